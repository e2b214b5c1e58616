"""Header fuzzing shared by tests/reliability/test_fuzz.py and scripts/fuzz_headers.py.

A small fuzz study is made once from the phantom (8 sagittal T1, 8 axial T1
and 4 sagittal T2 images, resampled to 32x32 so that files are small). Each
example rewrites some of its files with mutated headers: an attribute deleted,
given raw bytes of its own VR (numbers of any count, NaN, inf, garbage, empty,
non-ASCII), or retyped to another VR; PixelData cut or padded. Then the input
side runs in-process: ``scan_folder``, ``select_series`` on every study,
``find_study`` and ``read_volumes``. The only exception allowed is a
LumbarqiError whose message is one line.
"""
from __future__ import annotations

import io
import shutil
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import pydicom
from hypothesis import strategies as st
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

#: The headers the input side reads, with their VR.
ATTRIBUTES = {
    "ImageOrientationPatient": "DS", "ImagePositionPatient": "DS", "PixelSpacing": "DS", "Rows": "US", "Columns": "US",
    "RepetitionTime": "DS", "EchoTime": "DS", "InversionTime": "DS", "ScanningSequence": "CS", "ScanOptions": "CS",
    "ImageType": "CS", "SeriesDescription": "LO", "SOPClassUID": "UI", "Modality": "CS", "BitsAllocated": "US",
    "BitsStored": "US", "HighBit": "US", "PixelRepresentation": "US", "SamplesPerPixel": "US", "NumberOfFrames": "IS",
    "PhotometricInterpretation": "CS", "PatientWeight": "DS", "PatientSize": "DS", "PatientSex": "CS",
    "SliceThickness": "DS", "SpacingBetweenSlices": "DS", "InstanceNumber": "IS", "SeriesNumber": "IS",
    "RescaleSlope": "DS", "RescaleIntercept": "DS", "StudyInstanceUID": "UI", "SeriesInstanceUID": "UI",
    "SOPInstanceUID": "UI", "SpecificCharacterSet": "CS", "ContrastBolusAgent": "LO",
}
OTHER_VRS = ["LO", "OB", "US", "UL", "FD", "SS", "UN", "CS", "IS", "DS", "UT"]
TARGETS = ["one_sag", "all_sag", "one_ax", "all_ax", "one_any", "all"]

_number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.sampled_from([0, 1, -1, 0.5, 1e-9, 1e12, 65535, 65536, 4096]),
)
_numbers_text = st.lists(_number, max_size=8).map(lambda v: "\\".join(str(x) for x in v).encode("latin-1"))
_garbage_text = st.one_of(
    st.text(max_size=40).map(lambda s: s.encode("utf-8")),
    st.binary(max_size=40),
    st.sampled_from([b"", b"\\", b"\\\\\\", b"MR", b"CT", b"ORIGINAL\\PRIMARY\\LOCALIZER", b"SE\\IR", b"GR",
                     b"1.2.840.10008.5.1.4.1.1.4", b"1.2.840.10008.5.1.4.1.1.4.1", b"1.2.840.10008.5.1.4.1.1.2",
                     b"SAG T1 STIR +C", b"AX T1 LOC", b"M\xfcller^Zo\xeb", b"../../etc", b"ISO_IR 192", b"ISO 2022 IR 87"]),
)
_us_values = st.one_of(
    st.lists(st.integers(min_value=0, max_value=65535), min_size=0, max_size=3).map(
        lambda v: b"".join(x.to_bytes(2, "little") for x in v)),
    st.binary(max_size=5),
)


@st.composite
def mutation(draw):
    """(target, attribute, kind, raw value or None)."""
    target = draw(st.sampled_from(TARGETS))
    if draw(st.integers(0, 9)) == 0:
        return target, "PixelData", draw(st.sampled_from(["cut", "pad", "empty", "odd"])), None
    name = draw(st.sampled_from(sorted(ATTRIBUTES)))
    kind = draw(st.sampled_from(["delete", "value", "value", "retype"]))
    vr = ATTRIBUTES[name]
    if kind == "delete":
        return target, name, kind, None
    if kind == "retype":
        vr = draw(st.sampled_from([v for v in OTHER_VRS if v != vr]))
    value = draw(_us_values if vr in ("US", "SS") else st.one_of(_numbers_text, _garbage_text))
    return target, name, f"{kind}:{vr}", value


mutations = st.lists(mutation(), min_size=1, max_size=4)


def _raw(ds: pydicom.Dataset, name: str, vr: str, value: bytes) -> None:
    tag = Tag(name)
    if len(value) % 2:
        value += b"\0" if vr in ("OB", "UN", "US", "UL", "SS", "FD", "UI") else b" "
    ds._dict[tag] = RawDataElement(tag, vr, len(value), value, 0, False, True)


def _apply(ds: pydicom.Dataset, name: str, kind: str, value: bytes | None) -> None:
    if name == "PixelData":
        data = ds.PixelData
        ds.PixelData = {"cut": data[: len(data) // 3], "pad": data + b"\0" * 64, "empty": b"", "odd": data[:-1]}[kind]
        return
    if kind == "delete":
        if name in ds:
            delattr(ds, name)
        return
    _raw(ds, name, kind.split(":")[1], value)


@dataclass(repr=False)
class FuzzStudy:
    """The pristine fuzz study (bytes in memory) and the folder each example is written to."""

    work: Path
    files: dict[str, list[tuple[str, bytes]]]  # group -> [(relative path, bytes)]

    def __repr__(self) -> str:
        return f"FuzzStudy({self.work}, {sum(len(v) for v in self.files.values())} files)"

    def write(self, muts) -> None:
        """Write the study with ``muts`` applied (only files changed since the last call are rewritten)."""
        if not getattr(self, "_written", False):
            if self.work.exists():
                shutil.rmtree(self.work)
            for items in self.files.values():
                for rel, data in items:
                    (self.work / rel).parent.mkdir(parents=True, exist_ok=True)
                    (self.work / rel).write_bytes(data)
            self._written, self._dirty = True, set()
        original = {rel: data for items in self.files.values() for rel, data in items}
        every = [(g, rel) for g, items in self.files.items() for rel, _ in items]
        chosen: dict[str, list] = {}
        for i, (target, name, kind, value) in enumerate(muts):
            if target.startswith("one_"):
                group = {"one_sag": "sag", "one_ax": "ax"}.get(target)
                pool = [rel for g, rel in every if group is None or g == group]
                picked = [pool[(i * 7 + len(name)) % len(pool)]]
            else:
                group = {"all_sag": "sag", "all_ax": "ax"}.get(target)
                picked = [rel for g, rel in every if group is None or g == group]
            for rel in picked:
                chosen.setdefault(rel, []).append((name, kind, value))
        for rel in self._dirty - set(chosen):
            (self.work / rel).write_bytes(original[rel])
        for rel, changes in chosen.items():
            path = self.work / rel
            ds = pydicom.dcmread(io.BytesIO(original[rel]))
            for name, kind, value in changes:
                _apply(ds, name, kind, value)
            try:
                ds.save_as(path)
            except Exception:  # pydicom refused to write this mutation: the original stands
                path.write_bytes(original[rel])
        self._dirty = set(chosen)


def make_fuzz_study(root: Path) -> FuzzStudy:
    """Phantom (seed 1, small) -> 8 sagittal T1, 8 axial T1 and 4 sagittal T2 images on a 32x32 matrix, held in memory."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import corpus

    phantom = corpus.make_phantom(Path(root))
    facts = corpus.phantom_facts(phantom)
    groups = {"sag": facts["sag"], "ax": facts["axial"][0], "other": facts["others"][1]}
    keep = {"sag": 8, "ax": 8, "other": 4}  # fewer files, faster examples; the sagittal still has >= 7 slices
    files: dict[str, list[tuple[str, bytes]]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for group, folder in groups.items():
            items = []
            for path in sorted((phantom / "DICOM" / folder).glob("*.dcm"))[: keep[group]]:
                ds = pydicom.dcmread(path)
                corpus._resample(ds, 32, 32)
                buf = io.BytesIO()
                ds.save_as(buf)
                items.append((f"{folder}/{path.name}", buf.getvalue()))
            files[group] = items
    return FuzzStudy(Path(root) / "fuzz_input", files)


def run_input_side(folder: Path) -> str:
    """find_study (scan_folder + select_series on every study + subject) + read_volumes; returns what happened.

    Raises AssertionError for a LumbarqiError message that is not one line; any
    other exception propagates (that is a finding).
    """
    from lumbarqi.errors import LumbarqiError
    from lumbarqi.run.stages import find_study, read_volumes
    from lumbarqi.run.state import RunOptions, RunState

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            state = RunState(RunOptions(input_dir=folder, output_dir=folder.parent / "never", models_dir=folder.parent / "none"))
            _, selection, _ = find_study(state)
            sag, axial = read_volumes(state, selection)
            return f"ok: {'sag' if sag is not None else '-'} + {len(axial)} axial"
        except LumbarqiError as exc:
            message = str(exc)
            assert message and "\n" not in message, f"LumbarqiError message is not one line: {message!r}"
            return f"error {exc.exit_code}"

"""Phantom series re-encoded as multi-frame MR, the way newer scanners and archives deliver them.

``legacy_converted`` is highdicom's LegacyConvertedEnhancedMRImage of a
series; ``enhanced_mr`` turns that into an Enhanced MR Image: the single-frame
attributes move out of the Unassigned Converted Attributes sequences into the
MR functional groups (timing, echo, modifiers, coils, averages, FOV) and the
Enhanced MR and MR Pulse Sequence modules, so that nothing can be read the
single-frame way. ``convert_study`` writes a whole phantom study either way.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import highdicom as hd
import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
_UNASSIGNED = ("UnassignedSharedConvertedAttributesSequence", "UnassignedPerFrameConvertedAttributesSequence")


def legacy_converted(files: list[Path] | list[Dataset]) -> Dataset:
    """One Legacy Converted Enhanced MR object holding every image (file or dataset) of a single-frame series."""
    images = [p if isinstance(p, Dataset) else pydicom.dcmread(p) for p in files]
    first = images[0]
    return hd.legacy.LegacyConvertedEnhancedMRImage(
        images, series_instance_uid=first.SeriesInstanceUID, series_number=int(first.SeriesNumber),
        sop_instance_uid=generate_uid(entropy_srcs=[str(ds.SOPInstanceUID) for ds in images]), instance_number=1)


def _item(**attributes) -> Sequence:
    ds = Dataset()
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return Sequence([ds])


def enhanced_mr(files: list[Path], image_type: list[str] | None = None) -> Dataset:
    """One Enhanced MR Image object of a single-frame series (its weighting only in the MR functional groups)."""
    ds = legacy_converted(files)
    src = pydicom.dcmread(files[0], stop_before_pixels=True)
    ds.SOPClassUID = ENHANCED_MR
    ds.file_meta.MediaStorageSOPClassUID = ENHANCED_MR
    shared = ds.SharedFunctionalGroupsSequence[0]
    for group in [shared, *ds.PerFrameFunctionalGroupsSequence]:
        for name in _UNASSIGNED:
            if name in group:
                delattr(group, name)
    for group in ds.PerFrameFunctionalGroupsSequence:
        if "ConversionSourceAttributesSequence" in group:
            del group.ConversionSourceAttributesSequence
    seq = str(src.get("ScanningSequence", ""))
    gradient = "GR" in seq and "SE" not in seq
    flavour = "LOCALIZER" if "LOCALIZER" in list(src.get("ImageType", [])) else "VOLUME"
    image_type = image_type or ["ORIGINAL", "PRIMARY", flavour, "NONE"]
    ds.ImageType = image_type
    shared.MRImageFrameTypeSequence = _item(FrameType=image_type, PixelPresentation="MONOCHROME", VolumetricProperties="VOLUME",
                                            VolumeBasedCalculationTechnique="NONE", ComplexImageComponent="MAGNITUDE",
                                            AcquisitionContrast="T1" if float(src.EchoTime) < 30 else "T2")
    shared.MRTimingAndRelatedParametersSequence = _item(
        RepetitionTime=src.RepetitionTime, FlipAngle=src.get("FlipAngle", 90), EchoTrainLength=int(src.get("EchoTrainLength", 1)),
        RFEchoTrainLength=int(src.get("EchoTrainLength", 1)), GradientEchoTrainLength=0, GradientOutputType="DB_DT", GradientOutput=10.0,
        OperatingModeSequence=_item(OperatingModeType="STATIC FIELD", OperatingMode="IEC_NORMAL"),
        SpecificAbsorptionRateSequence=_item(SpecificAbsorptionRateDefinition="IEC_WHOLE_BODY", SpecificAbsorptionRateValue=0.5))
    shared.MREchoSequence = _item(EffectiveEchoTime=float(src.EchoTime))
    shared.MRModifierSequence = _item(InversionRecovery="NO", FlowCompensation="NONE", T2Preparation="NO", SpectrallySelectedExcitation="NONE",
                                      SpatialPresaturation="NONE", PartialFourier="NO", ParallelAcquisition="NO")
    shared.MRImagingModifierSequence = _item(MagnetizationTransfer="NONE", BloodSignalNulling="NO", Tagging="NONE",
                                             TransmitterFrequency=float(src.get("ImagingFrequency", 63.87)),
                                             PixelBandwidth=float(src.get("PixelBandwidth", 200)))
    shared.MRReceiveCoilSequence = _item(ReceiveCoilName=src.get("ReceiveCoilName", "Spine"), ReceiveCoilManufacturerName="PHANTOM",
                                         ReceiveCoilType="MULTICOIL", QuadratureReceiveCoil="NO", MultiCoilDefinitionSequence=_item(MultiCoilElementName="E1", MultiCoilElementUsed="YES"))
    shared.MRTransmitCoilSequence = _item(TransmitCoilName="Body", TransmitCoilManufacturerName="PHANTOM", TransmitCoilType="BODY")
    shared.MRAveragesSequence = _item(NumberOfAverages=float(src.get("NumberOfAverages", 1)))
    shared.MRFOVGeometrySequence = _item(InPlanePhaseEncodingDirection="ROW", MRAcquisitionFrequencyEncodingSteps=int(ds.Columns),
                                         MRAcquisitionPhaseEncodingStepsInPlane=int(ds.Rows), PercentSampling=100.0, PercentPhaseFieldOfView=100.0)
    # Enhanced MR Image and MR Pulse Sequence modules
    for keyword, value in dict(
            AcquisitionContrast=shared.MRImageFrameTypeSequence[0].AcquisitionContrast, PixelPresentation="MONOCHROME",
            VolumetricProperties="VOLUME", VolumeBasedCalculationTechnique="NONE", ComplexImageComponent="MAGNITUDE",
            ResonantNucleus="1H", KSpaceFiltering="NONE", MagneticFieldStrength=1.5, ApplicableSafetyStandardAgency="IEC",
            BurnedInAnnotation="NO", DeviceSerialNumber="0", SoftwareVersions="phantom", AcquisitionDuration=60.0,
            LossyImageCompression="00", ContentQualification="PRODUCT", PulseSequenceName=str(src.get("SequenceName", "tse"))[:16],
            MRAcquisitionType=str(src.get("MRAcquisitionType", "2D")), EchoPulseSequence="GRADIENT" if gradient else "SPIN",
            MultiPlanarExcitation="NO", PhaseContrast="NO", TimeOfFlightContrast="NO",
            SteadyStatePulseSequence="NONE", EchoPlanarPulseSequence="NO", SaturationRecovery="NO",
            SpectrallySelectedSuppression="NONE", OversamplingPhase="NONE", GeometryOfKSpaceTraversal="RECTILINEAR",
            RectilinearPhaseEncodeReordering="LINEAR", SegmentedKSpaceTraversal="SINGLE",
            NumberOfKSpaceTrajectories=1).items():
        setattr(ds, keyword, value)
    if not gradient:
        ds.MultipleSpinEcho = "YES"
    for group in ds.PerFrameFunctionalGroupsSequence:
        content = group.FrameContentSequence[0]
        content.FrameAcquisitionDuration = 60000.0 / len(ds.PerFrameFunctionalGroupsSequence)
        content.FrameReferenceDateTime = content.get("FrameAcquisitionDateTime", "20260101000000")
    for keyword in ("ContributingEquipmentSequence", "ReferencedSeriesSequence", "ImagingFrequency", "ContrastBolusAgent"):
        if keyword in ds:
            delattr(ds, keyword)
    return ds


def convert_study(study_dir: Path, out_dir: Path, kind: str) -> Path:
    """Every series of a phantom study as one multi-frame object (``kind``: 'legacy' or 'enhanced'); truth.json copied."""
    out_dir.mkdir(parents=True, exist_ok=True)
    build = {"legacy": legacy_converted, "enhanced": enhanced_mr}[kind]
    for series in sorted((study_dir / "DICOM").iterdir()):
        files = sorted(series.glob("*.dcm"))
        build(files).save_as(out_dir / f"{series.name}.dcm", enforce_file_format=True)
    if (study_dir / "truth.json").exists():
        shutil.copy(study_dir / "truth.json", out_dir / "truth.json")
    return out_dir

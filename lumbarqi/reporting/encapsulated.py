"""The PDF report as a DICOM Encapsulated PDF in the source study.

highdicom has no Encapsulated PDF class, so this one extends
:class:`highdicom.SOPClass` (SOP common, patient, study, series and equipment
modules) with the SC Equipment and Encapsulated Document modules.
"""
from __future__ import annotations

import datetime

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.uid import EncapsulatedPDFStorage, ExplicitVRLittleEndian, generate_uid

import lumbarqi
from lumbarqi.reporting import codes

PDF_SERIES_NUMBER = 1901
#: Patient-module and patient-study attributes copied verbatim from the source images.
PATIENT_KEYWORDS = (
    "PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex",
    "OtherPatientIDsSequence", "PatientComments", "PatientAge", "PatientSize", "PatientWeight",
)


class EncapsulatedPDF(hd.SOPClass):
    """Encapsulated PDF Storage instance holding one PDF document."""

    def __init__(self, pdf: bytes, source: Dataset, series_instance_uid: str, sop_instance_uid: str,
                 series_number: int = PDF_SERIES_NUMBER, title: str = "lumbarqi report") -> None:
        now = datetime.datetime.now()
        super().__init__(
            study_instance_uid=source.StudyInstanceUID,
            series_instance_uid=series_instance_uid,
            series_number=series_number,
            sop_instance_uid=sop_instance_uid,
            sop_class_uid=EncapsulatedPDFStorage,
            instance_number=1,
            modality="DOC",
            manufacturer="lumbarqi",
            transfer_syntax_uid=ExplicitVRLittleEndian,
            patient_id=source.get("PatientID"),
            patient_name=source.get("PatientName"),
            patient_birth_date=source.get("PatientBirthDate"),
            patient_sex=source.get("PatientSex"),
            accession_number=source.get("AccessionNumber"),
            study_id=source.get("StudyID"),
            study_date=source.get("StudyDate"),
            study_time=source.get("StudyTime"),
            referring_physician_name=source.get("ReferringPhysicianName"),
            coding_schemes=codes.coding_schemes(),
            series_description="lumbarqi report (PDF)",
            manufacturer_model_name="lumbarqi",
            software_versions=lumbarqi.__version__,
            content_date=now.date(),
            content_time=now.time(),
            specific_character_set=source.get("SpecificCharacterSet"),
        )
        for keyword in PATIENT_KEYWORDS:
            if keyword in source and keyword not in self:
                self[keyword] = source[keyword]
        if "StudyDescription" in source:
            self.StudyDescription = source.StudyDescription
        self.ConversionType = "WSD"
        self.BurnedInAnnotation = "NO"  # the report carries no patient identifiers
        self.DocumentTitle = title
        self.ConceptNameCodeSequence = [hd.sr.CodedConcept.from_code(codes.PROCEDURE)]
        self.AcquisitionDateTime = now.strftime("%Y%m%d%H%M%S")
        self.MIMETypeOfEncapsulatedDocument = "application/pdf"
        self.EncapsulatedDocumentLength = len(pdf)
        self.EncapsulatedDocument = pdf + (b"\0" if len(pdf) % 2 else b"")


def pdf_uids(source_uids: list[str]) -> tuple[str, str]:
    """(series UID, SOP instance UID) derived from the study's source images."""
    srcs = sorted(source_uids)
    return (generate_uid(entropy_srcs=[*srcs, "lumbarqi", "pdf", "series"]),
            generate_uid(entropy_srcs=[*srcs, "lumbarqi", "pdf"]))

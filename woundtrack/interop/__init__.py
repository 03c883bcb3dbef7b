"""Exchange with the clinic's other systems: FHIR R4 bundles for the electronic record
(``fhir``: measurements as LOINC-coded Observations, treatments as Procedures and medications)
and DICOM for the PACS (``dicom``: photos as VL Photographic Images, label maps as DICOM
Segmentations). Values in, documents out: nothing here opens the database or Streamlit.
"""

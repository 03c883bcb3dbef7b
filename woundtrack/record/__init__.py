"""The longitudinal record: patients, lesions, visits, analyses and treatments in a database.

``ingest`` does the image work for an upload or a correction (read, strip location, analyse,
register onto the visit nearest in time), then hands finished values to ``store``, the only
module that reads and writes the database (schema in ``db``, Alembic ``migrations``). ``demo``
seeds the demo patient. Only this room imports SQLAlchemy.
"""

//! EPCIS XML (2.0 read/write, 1.2 read) <-> the JSON-LD document shape. Work in progress.

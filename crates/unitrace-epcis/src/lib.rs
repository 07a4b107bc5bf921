//! GS1 EPCIS 2.0 and CBV 2.0, sans IO: the event model, JSON-LD and XML reading and writing,
//! validation and the canonical event hash.

pub mod xml;

//! Compressed GS1 Digital Link.

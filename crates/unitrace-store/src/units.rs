//! Units of measure (UN/CEFACT Rec 20 codes) for sensor values: conversion to one base unit per
//! dimension, so that a sensor query in one unit matches values captured in another.

/// (code, base code, factor, offset): base = value * factor + offset.
const UNITS: &[(&str, &str, f64, f64)] = &[
    // temperature
    ("KEL", "KEL", 1.0, 0.0),
    ("CEL", "KEL", 1.0, 273.15),
    ("FAH", "KEL", 5.0 / 9.0, 459.67 * 5.0 / 9.0),
    // mass
    ("KGM", "KGM", 1.0, 0.0),
    ("GRM", "KGM", 1e-3, 0.0),
    ("MGM", "KGM", 1e-6, 0.0),
    ("TNE", "KGM", 1e3, 0.0),
    ("LBR", "KGM", 0.453_592_37, 0.0),
    ("ONZ", "KGM", 0.028_349_523_125, 0.0),
    // length
    ("MTR", "MTR", 1.0, 0.0),
    ("KMT", "MTR", 1e3, 0.0),
    ("CMT", "MTR", 1e-2, 0.0),
    ("MMT", "MTR", 1e-3, 0.0),
    ("INH", "MTR", 0.0254, 0.0),
    ("FOT", "MTR", 0.3048, 0.0),
    // volume
    ("MTQ", "MTQ", 1.0, 0.0),
    ("LTR", "MTQ", 1e-3, 0.0),
    ("MLT", "MTQ", 1e-6, 0.0),
    // pressure
    ("PAL", "PAL", 1.0, 0.0),
    ("KPA", "PAL", 1e3, 0.0),
    ("A97", "PAL", 1e2, 0.0),
    ("MBR", "PAL", 1e2, 0.0),
    ("BAR", "PAL", 1e5, 0.0),
    // time
    ("SEC", "SEC", 1.0, 0.0),
    ("MIN", "SEC", 60.0, 0.0),
    ("HUR", "SEC", 3600.0, 0.0),
];

/// The value in its dimension's base unit; an unknown unit is its own base.
pub fn to_base(uom: &str, value: f64) -> (&str, f64) {
    match UNITS.iter().find(|(code, ..)| *code == uom) {
        Some((_, base, factor, offset)) => (base, value * factor + offset),
        None => (uom, value),
    }
}

/// A sensor report's unit and numbers converted to the base unit of its dimension:
/// (base unit, value, minValue, maxValue, meanValue). No unit: nothing to compare against.
pub fn report_in_base(r: &crate::SensorReport) -> (Option<String>, [Option<f64>; 4]) {
    match r.uom.as_deref() {
        None => (None, [None; 4]),
        Some(u) => {
            let base = to_base(u, 0.0).0.to_string();
            let conv = |v: Option<f64>| v.map(|x| to_base(u, x).1);
            (
                Some(base),
                [
                    conv(r.value),
                    conv(r.min_value),
                    conv(r.max_value),
                    conv(r.mean_value),
                ],
            )
        }
    }
}

/// A quantity's unit and amount in the base unit of its dimension; None without both.
pub fn quantity_in_base(q: &crate::QuantityRow) -> (Option<String>, Option<f64>) {
    match (q.uom.as_deref(), q.quantity) {
        (Some(u), Some(v)) => {
            let (b, x) = to_base(u, v);
            (Some(b.to_string()), Some(x))
        }
        _ => (None, None),
    }
}

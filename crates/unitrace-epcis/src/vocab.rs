//! The standard vocabularies of CBV 2.0 and the GS1 Web Vocabulary terms EPCIS 2.0 uses, and the
//! rules between their bare-word, web-URI and URN forms.

/// The standard business steps (CBV 2.0 section 7.1), bare words.
pub const BIZ_STEPS: &[&str] = &[
    "accepting",
    "arriving",
    "assembling",
    "collecting",
    "commissioning",
    "consigning",
    "creating_class_instance",
    "cycle_counting",
    "decommissioning",
    "departing",
    "destroying",
    "disassembling",
    "dispensing",
    "encoding",
    "entering_exiting",
    "holding",
    "inspecting",
    "installing",
    "killing",
    "loading",
    "other",
    "packing",
    "picking",
    "receiving",
    "removing",
    "repackaging",
    "repairing",
    "replacing",
    "reserving",
    "retail_selling",
    "sampling",
    "sensor_reporting",
    "shipping",
    "staging_outbound",
    "stock_taking",
    "stocking",
    "storing",
    "transporting",
    "unloading",
    "unpacking",
    "void_shipping",
];

/// The standard dispositions (CBV 2.0 section 7.2), bare words.
pub const DISPOSITIONS: &[&str] = &[
    "active",
    "available",
    "completeness_inferred",
    "completeness_verified",
    "conformant",
    "container_closed",
    "container_open",
    "damaged",
    "destroyed",
    "dispensed",
    "disposed",
    "encoded",
    "expired",
    "in_progress",
    "in_transit",
    "inactive",
    "mismatch_class",
    "mismatch_instance",
    "mismatch_quantity",
    "needs_replacement",
    "no_pedigree_match",
    "non_conformant",
    "non_sellable_other",
    "partially_dispensed",
    "recalled",
    "reserved",
    "retail_sold",
    "returned",
    "sellable_accessible",
    "sellable_not_accessible",
    "stolen",
    "unavailable",
    "unknown",
];

/// The standard business transaction types (CBV 2.0 section 7.3), bare words.
pub const BIZ_TRANSACTION_TYPES: &[&str] = &[
    "bol",
    "cert",
    "desadv",
    "inv",
    "pedigree",
    "po",
    "poc",
    "prodorder",
    "recadv",
    "rma",
    "testprd",
    "testres",
    "upevt",
];

/// The standard source/destination types (CBV 2.0 section 7.4), bare words.
pub const SOURCE_DEST_TYPES: &[&str] = &["location", "owning_party", "possessing_party"];

/// The standard error reasons (CBV 2.0 section 7.5), bare words.
pub const ERROR_REASONS: &[&str] = &["did_not_occur", "incorrect_data"];

/// The standard sensor measurement types (GS1 Web Vocabulary gs1:MeasurementType), bare words.
pub const MEASUREMENT_TYPES: &[&str] = &[
    "AbsoluteHumidity",
    "AbsorbedDose",
    "AbsorbedDoseRate",
    "Acceleration",
    "Altitude",
    "AmountOfSubstance",
    "AmountOfSubstancePerUnitVolume",
    "Angle",
    "AngularAcceleration",
    "AngularMomentum",
    "AngularVelocity",
    "Area",
    "Capacitance",
    "Conductance",
    "Conductivity",
    "Count",
    "Density",
    "Dimensionless",
    "DoseEquivalent",
    "DoseEquivalentRate",
    "DynamicViscosity",
    "ElectricCharge",
    "ElectricCurrent",
    "ElectricCurrentDensity",
    "ElectricFieldStrength",
    "Energy",
    "Exposure",
    "Force",
    "Frequency",
    "Illuminance",
    "Inductance",
    "Irradiance",
    "KinematicViscosity",
    "Length",
    "LinearMomentum",
    "Luminance",
    "LuminousFlux",
    "LuminousIntensity",
    "MagneticFlux",
    "MagneticFluxDensity",
    "MagneticVectorPotential",
    "Mass",
    "MassConcentration",
    "MassFlowRate",
    "MassPerAreaTime",
    "MemoryCapacity",
    "MolalityOfSolute",
    "MolarEnergy",
    "MolarMass",
    "MolarVolume",
    "Power",
    "Pressure",
    "RadiantFlux",
    "RadiantIntensity",
    "Radioactivity",
    "RelativeHumidity",
    "Resistance",
    "Resistivity",
    "SolidAngle",
    "SpecificVolume",
    "Speed",
    "SurfaceDensity",
    "SurfaceTension",
    "Temperature",
    "Time",
    "Torque",
    "Voltage",
    "Volume",
    "VolumeFlowRate",
    "VolumeFraction",
    "VolumetricFlux",
    "Wavenumber",
];

/// The standard sensor alert types (GS1 Web Vocabulary gs1:SensorAlertType), bare words.
pub const SENSOR_EXCEPTIONS: &[&str] = &["ALARM_CONDITION", "ERROR_CONDITION"];

/// The standard sensor components (CBV 2.0 section 7.7), bare words.
pub const COMPONENTS: &[&str] = &[
    "altitude",
    "axial_distance",
    "azimuth",
    "easting",
    "elevation_angle",
    "height",
    "latitude",
    "longitude",
    "northing",
    "polar_angle",
    "spherical_radius",
    "x",
    "y",
    "z",
];

/// Which standard vocabulary a field takes its values from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VocabKind {
    /// `bizStep`
    BizStep,
    /// `disposition`, `persistentDisposition.set/unset`
    Disposition,
    /// `bizTransactionList[].type`
    BizTransactionType,
    /// `sourceList[].type`, `destinationList[].type`
    SourceDestType,
    /// `errorDeclaration.reason`
    ErrorReason,
    /// `sensorReport.type`
    MeasurementType,
    /// `sensorReport.exception`
    SensorException,
    /// `sensorReport.component`
    Component,
}

/// How a vocabulary value is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VocabValue {
    /// A standard term, in any of its forms; the bare word.
    Standard(&'static str),
    /// An absolute URI that is not a standard term (a user vocabulary: allowed by the standard).
    OtherUri,
    /// A URI in a standard namespace (`https://ref.gs1.org/cbv/BizStep-...`, `urn:epcglobal:cbv:...`)
    /// whose term is not defined.
    UnknownStandardUri,
    /// A bare word that is not a term of the vocabulary (not allowed).
    UnknownBareWord,
}

impl VocabKind {
    /// The bare words of the vocabulary, sorted.
    pub fn terms(self) -> &'static [&'static str] {
        match self {
            VocabKind::BizStep => BIZ_STEPS,
            VocabKind::Disposition => DISPOSITIONS,
            VocabKind::BizTransactionType => BIZ_TRANSACTION_TYPES,
            VocabKind::SourceDestType => SOURCE_DEST_TYPES,
            VocabKind::ErrorReason => ERROR_REASONS,
            VocabKind::MeasurementType => MEASUREMENT_TYPES,
            VocabKind::SensorException => SENSOR_EXCEPTIONS,
            VocabKind::Component => COMPONENTS,
        }
    }

    /// The web-URI prefix of the vocabulary's terms.
    pub fn web_prefix(self) -> &'static str {
        match self {
            VocabKind::BizStep => "https://ref.gs1.org/cbv/BizStep-",
            VocabKind::Disposition => "https://ref.gs1.org/cbv/Disp-",
            VocabKind::BizTransactionType => "https://ref.gs1.org/cbv/BTT-",
            VocabKind::SourceDestType => "https://ref.gs1.org/cbv/SDT-",
            VocabKind::ErrorReason => "https://ref.gs1.org/cbv/ER-",
            VocabKind::MeasurementType | VocabKind::SensorException => "https://gs1.org/voc/",
            VocabKind::Component => "https://ref.gs1.org/cbv/Comp-",
        }
    }

    /// The compact-IRI prefix (`cbv:BizStep-`, `gs1:`).
    pub fn curie_prefix(self) -> &'static str {
        match self {
            VocabKind::BizStep => "cbv:BizStep-",
            VocabKind::Disposition => "cbv:Disp-",
            VocabKind::BizTransactionType => "cbv:BTT-",
            VocabKind::SourceDestType => "cbv:SDT-",
            VocabKind::ErrorReason => "cbv:ER-",
            VocabKind::MeasurementType | VocabKind::SensorException => "gs1:",
            VocabKind::Component => "cbv:Comp-",
        }
    }

    /// The EPCIS 1.x URN prefix, where one exists.
    pub fn urn_prefix(self) -> Option<&'static str> {
        match self {
            VocabKind::BizStep => Some("urn:epcglobal:cbv:bizstep:"),
            VocabKind::Disposition => Some("urn:epcglobal:cbv:disp:"),
            VocabKind::BizTransactionType => Some("urn:epcglobal:cbv:btt:"),
            VocabKind::SourceDestType => Some("urn:epcglobal:cbv:sdt:"),
            VocabKind::ErrorReason => Some("urn:epcglobal:cbv:er:"),
            _ => None,
        }
    }

    /// The standard term spelled exactly `word`, if any.
    pub fn term(self, word: &str) -> Option<&'static str> {
        let t = self.terms();
        t.binary_search(&word).ok().map(|i| t[i])
    }

    /// Classifies a value of this vocabulary.
    pub fn classify(self, value: &str) -> VocabValue {
        let prefixed = [
            Some(self.web_prefix()),
            Some(self.curie_prefix()),
            self.urn_prefix(),
        ];
        for p in prefixed.into_iter().flatten() {
            if let Some(rest) = value.strip_prefix(p) {
                return match self.term(rest) {
                    Some(t) => VocabValue::Standard(t),
                    None => VocabValue::UnknownStandardUri,
                };
            }
        }
        if let Some(t) = self.term(value) {
            return VocabValue::Standard(t);
        }
        if is_absolute_uri(value) {
            VocabValue::OtherUri
        } else {
            VocabValue::UnknownBareWord
        }
    }

    /// The web URI of a standard term given in any form; `None` for anything else.
    pub fn to_web_uri(self, value: &str) -> Option<String> {
        match self.classify(value) {
            VocabValue::Standard(t) => {
                let prefix = self.web_prefix();
                let mut out = String::with_capacity(prefix.len() + t.len());
                out.push_str(prefix);
                out.push_str(t);
                Some(out)
            }
            _ => None,
        }
    }
}

/// `scheme:rest` with an RFC 3986 scheme (letter, then letters, digits, `+`, `-`, `.`) and a
/// non-empty rest.
pub fn is_absolute_uri(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(colon) = b.iter().position(|&c| c == b':') else {
        return false;
    };
    let scheme = &b[..colon];
    if !(matches!(scheme.first(), Some(c) if c.is_ascii_alphabetic())
        && scheme
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        && colon + 1 < b.len())
    {
        return false;
    }
    // No whitespace or control character: for ASCII, exactly the bytes <= 0x20 and 0x7F (one
    // branch-free pass over the bytes); non-ASCII text takes the character test.
    let (ctl, non_ascii) = b.iter().fold((false, false), |(ctl, hi), &c| {
        (ctl | (c <= b' ') | (c == 0x7f), hi | (c >= 0x80))
    });
    if ctl {
        return false;
    }
    !non_ascii || !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_sorted_for_binary_search() {
        for k in [
            VocabKind::BizStep,
            VocabKind::Disposition,
            VocabKind::BizTransactionType,
            VocabKind::SourceDestType,
            VocabKind::ErrorReason,
            VocabKind::MeasurementType,
            VocabKind::SensorException,
            VocabKind::Component,
        ] {
            assert!(k.terms().windows(2).all(|w| w[0] < w[1]), "{k:?}");
        }
    }

    #[test]
    fn classifies_forms() {
        let k = VocabKind::BizStep;
        assert_eq!(k.classify("shipping"), VocabValue::Standard("shipping"));
        assert_eq!(
            k.classify("https://ref.gs1.org/cbv/BizStep-shipping"),
            VocabValue::Standard("shipping")
        );
        assert_eq!(
            k.classify("urn:epcglobal:cbv:bizstep:shipping"),
            VocabValue::Standard("shipping")
        );
        assert_eq!(
            k.classify("https://ref.gs1.org/cbv/BizStep-flying"),
            VocabValue::UnknownStandardUri
        );
        assert_eq!(
            k.classify("urn:example:bizstep:flying"),
            VocabValue::OtherUri
        );
        assert_eq!(k.classify("flying"), VocabValue::UnknownBareWord);
        assert_eq!(
            VocabKind::MeasurementType
                .to_web_uri("Temperature")
                .as_deref(),
            Some("https://gs1.org/voc/Temperature")
        );
    }
}

#[cfg(test)]
mod uri_tests {
    use proptest::prelude::*;

    /// The definition `is_absolute_uri` implements in one pass.
    fn reference(s: &str) -> bool {
        let Some((scheme, rest)) = s.split_once(':') else {
            return false;
        };
        let b = scheme.as_bytes();
        matches!(b.first(), Some(c) if c.is_ascii_alphabetic())
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
            && !rest.is_empty()
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]
        #[test]
        fn absolute_uri_one_pass(s in "[a-zA-Z0-9+.:/ \\-\t\u{7f}\u{a0}\u{85}é]{0,12}") {
            prop_assert_eq!(super::is_absolute_uri(&s), reference(&s), "{:?}", s);
        }
    }
}

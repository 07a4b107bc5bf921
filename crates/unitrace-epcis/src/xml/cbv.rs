//! CBV value forms: bare words (JSON-LD), URNs and web URIs (XML, `GS1-CBV-XML-Format`).

use super::CbvXmlFormat;
use crate::vocab;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Vocab {
    BizStep,
    Disposition,
    BizTransactionType,
    SourceDestType,
    ErrorReason,
    MeasurementType,
    SensorAlertType,
    Component,
}

impl Vocab {
    fn terms(self) -> &'static [&'static str] {
        match self {
            Vocab::BizStep => vocab::BIZ_STEPS,
            Vocab::Disposition => vocab::DISPOSITIONS,
            Vocab::BizTransactionType => vocab::BIZ_TRANSACTION_TYPES,
            Vocab::SourceDestType => vocab::SOURCE_DEST_TYPES,
            Vocab::ErrorReason => vocab::ERROR_REASONS,
            Vocab::MeasurementType => vocab::MEASUREMENT_TYPES,
            Vocab::SensorAlertType => vocab::SENSOR_EXCEPTIONS,
            Vocab::Component => vocab::COMPONENTS,
        }
    }

    /// The default ("URN") XML form prefix. For the sensor vocabularies, which have no URN form,
    /// this is the compact form used by the standard's XML examples (`gs1:Temperature`).
    fn urn_prefix(self) -> &'static str {
        match self {
            Vocab::BizStep => "urn:epcglobal:cbv:bizstep:",
            Vocab::Disposition => "urn:epcglobal:cbv:disp:",
            Vocab::BizTransactionType => "urn:epcglobal:cbv:btt:",
            Vocab::SourceDestType => "urn:epcglobal:cbv:sdt:",
            Vocab::ErrorReason => "urn:epcglobal:cbv:er:",
            Vocab::MeasurementType | Vocab::SensorAlertType => "gs1:",
            Vocab::Component => "cbv:Comp-",
        }
    }

    fn web_prefix(self) -> &'static str {
        match self {
            Vocab::BizStep => "https://ref.gs1.org/cbv/BizStep-",
            Vocab::Disposition => "https://ref.gs1.org/cbv/Disp-",
            Vocab::BizTransactionType => "https://ref.gs1.org/cbv/BTT-",
            Vocab::SourceDestType => "https://ref.gs1.org/cbv/SDT-",
            Vocab::ErrorReason => "https://ref.gs1.org/cbv/ER-",
            Vocab::MeasurementType | Vocab::SensorAlertType => "https://gs1.org/voc/",
            Vocab::Component => "https://ref.gs1.org/cbv/Comp-",
        }
    }

    fn is_term(self, word: &str) -> bool {
        self.terms().contains(&word)
    }

    /// XML value -> JSON value: a CBV URN / web URI / compact form of a standard term becomes the
    /// bare word; anything else is returned unchanged.
    pub(crate) fn to_json(self, value: &str) -> String {
        for prefix in [self.urn_prefix(), self.web_prefix()] {
            if let Some(rest) = value.strip_prefix(prefix) {
                if self.is_term(rest) {
                    return rest.to_owned();
                }
            }
        }
        value.to_owned()
    }

    /// Like [`to_json`](Self::to_json), reusing the string.
    pub(crate) fn to_json_owned(self, mut value: String) -> String {
        for prefix in [self.urn_prefix(), self.web_prefix()] {
            if let Some(rest) = value.strip_prefix(prefix) {
                if self.is_term(rest) {
                    value.replace_range(..prefix.len(), "");
                    return value;
                }
            }
        }
        value
    }

    /// JSON value -> XML value according to `format`.
    pub(crate) fn to_xml(self, value: &str, format: CbvXmlFormat) -> String {
        if !value.contains(':') {
            let prefix = match format {
                CbvXmlFormat::AlwaysWebUri => self.web_prefix(),
                CbvXmlFormat::AlwaysUrn | CbvXmlFormat::NoPreference => self.urn_prefix(),
            };
            return format!("{prefix}{value}");
        }
        match format {
            CbvXmlFormat::NoPreference => value.to_owned(),
            CbvXmlFormat::AlwaysUrn => match value.strip_prefix(self.web_prefix()) {
                Some(rest) if self.is_term(rest) => format!("{}{rest}", self.urn_prefix()),
                _ => value.to_owned(),
            },
            CbvXmlFormat::AlwaysWebUri => match value.strip_prefix(self.urn_prefix()) {
                Some(rest) if self.is_term(rest) => format!("{}{rest}", self.web_prefix()),
                _ => value.to_owned(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(
            Vocab::BizStep.to_json("urn:epcglobal:cbv:bizstep:shipping"),
            "shipping"
        );
        assert_eq!(
            Vocab::BizStep.to_json("https://ref.gs1.org/cbv/BizStep-shipping"),
            "shipping"
        );
        assert_eq!(
            Vocab::BizStep.to_json("urn:epcglobal:cbv:bizstep:bogus"),
            "urn:epcglobal:cbv:bizstep:bogus"
        );
        assert_eq!(
            Vocab::MeasurementType.to_json("gs1:Temperature"),
            "Temperature"
        );
        assert_eq!(Vocab::Component.to_json("cbv:Comp-x"), "x");
        assert_eq!(
            Vocab::Disposition.to_xml("in_transit", CbvXmlFormat::NoPreference),
            "urn:epcglobal:cbv:disp:in_transit"
        );
        assert_eq!(
            Vocab::Disposition.to_xml("in_transit", CbvXmlFormat::AlwaysWebUri),
            "https://ref.gs1.org/cbv/Disp-in_transit"
        );
        assert_eq!(
            Vocab::Disposition.to_xml(
                "urn:epcglobal:cbv:disp:in_transit",
                CbvXmlFormat::AlwaysWebUri
            ),
            "https://ref.gs1.org/cbv/Disp-in_transit"
        );
        assert_eq!(
            Vocab::BizTransactionType
                .to_xml("https://ref.gs1.org/cbv/BTT-po", CbvXmlFormat::AlwaysUrn),
            "urn:epcglobal:cbv:btt:po"
        );
        assert_eq!(
            Vocab::MeasurementType.to_xml("Temperature", CbvXmlFormat::NoPreference),
            "gs1:Temperature"
        );
    }
}

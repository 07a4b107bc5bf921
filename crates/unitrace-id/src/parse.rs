//! One entry point for every identifier form: [`parse_any`] detects the form of its input and
//! gives the AI data, the unit's [`Identity`] (when the data names one) and, for RFID input, the
//! tag. [`Parsed`] then renders every other form, so that a scan at the dock, an EPC in a
//! partner's EPCIS file and a tag read at a portal all land on the same unit.

use crate::digital_link;
use crate::element::ElementString;
use crate::epc::{decode_hex, parse_epc_uri, parse_tag_uri, EpcTag};
use crate::gcp::GcpResolver;
use crate::identity::Identity;
use crate::IdError;

/// Longest input [`parse_any`] looks at. Real identifiers are far shorter (a GS1 Digital Link
/// with every data attribute stays under 1 KiB); anything longer is refused before parsing.
pub const MAX_INPUT_LEN: usize = 4096;

/// The form an identifier arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputKind {
    /// Bracketed element string: `(01)09521234543213(21)ABC`.
    ElementString,
    /// Barcode scan data with a symbology identifier (`]d2...`), or unbracketed with `^` as FNC1.
    ScanData,
    /// A GS1 Digital Link URI (uncompressed or compressed), on any domain.
    DigitalLink,
    /// An EPC pure identity URI: `urn:epc:id:...`.
    EpcUri,
    /// An EPC tag URI: `urn:epc:tag:...`.
    EpcTagUri,
    /// The binary EPC of an RFID tag, written `hex:<HEX>`.
    EpcBinary,
}

impl InputKind {
    /// The name used in `unitrace id parse --json` output.
    pub fn name(self) -> &'static str {
        match self {
            InputKind::ElementString => "element_string",
            InputKind::ScanData => "scan_data",
            InputKind::DigitalLink => "digital_link",
            InputKind::EpcUri => "epc_uri",
            InputKind::EpcTagUri => "epc_tag_uri",
            InputKind::EpcBinary => "epc_binary",
        }
    }

    /// Detects the form of `input` from its first characters, without validating the rest.
    pub fn detect(input: &str) -> Result<InputKind, IdError> {
        let lower_prefix = input
            .get(..input.len().min(12))
            .unwrap_or("")
            .to_ascii_lowercase();
        let kind = if lower_prefix.starts_with("hex:") {
            InputKind::EpcBinary
        } else if input.starts_with("urn:epc:id:") {
            InputKind::EpcUri
        } else if input.starts_with("urn:epc:tag:") {
            InputKind::EpcTagUri
        } else if lower_prefix.starts_with("https://") || lower_prefix.starts_with("http://") {
            InputKind::DigitalLink
        } else if input.starts_with('(') {
            InputKind::ElementString
        } else if input.starts_with(']') || input.starts_with('^') {
            InputKind::ScanData
        } else if input.is_empty() {
            return Err(IdError::syntax("empty identifier"));
        } else {
            return Err(IdError::syntax(
                "unrecognised identifier form: expected (AI)element string, scan data (]C1, ]e0, \
                 ]d2, ]Q3 or ^), a GS1 Digital Link (https://...), an EPC URI (urn:epc:id:...), \
                 an EPC tag URI (urn:epc:tag:...) or hex:<binary EPC>",
            ));
        };
        Ok(kind)
    }
}

/// An identifier parsed from any form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The form it arrived in.
    pub input_kind: InputKind,
    /// The AI data, validated, in element-string order. For EPC input: the AIs of the identity.
    pub element: ElementString,
    /// The serialised unit the data names, if any (a GTIN without a serial names a product, not
    /// a unit).
    pub identity: Option<Identity>,
    /// The GS1 Company Prefix length carried by the input itself (EPC URIs and binary encode it).
    pub gcp_len: Option<usize>,
    /// The RFID tag, for tag-URI and binary input.
    pub tag: Option<EpcTag>,
}

/// Parses an identifier in any supported form. See [`InputKind`] for the forms.
pub fn parse_any(input: &str) -> Result<Parsed, IdError> {
    if input.len() > MAX_INPUT_LEN {
        return Err(IdError::syntax(format!(
            "identifier is {} bytes long; at most {MAX_INPUT_LEN} are accepted",
            input.len()
        )));
    }
    let input_kind = InputKind::detect(input)?;
    match input_kind {
        InputKind::ElementString => {
            from_element(input_kind, ElementString::parse_bracketed(input)?)
        }
        InputKind::ScanData => from_element(input_kind, ElementString::parse_scan_data(input)?),
        InputKind::DigitalLink => from_element(input_kind, digital_link::parse(input)?),
        InputKind::EpcUri => {
            let uri = parse_epc_uri(input)?;
            from_identity(input_kind, uri.identity, uri.gcp_len, None)
        }
        InputKind::EpcTagUri => from_tag(input_kind, parse_tag_uri(input)?),
        InputKind::EpcBinary => {
            let hex = input.get(4..).unwrap_or("");
            from_tag(input_kind, decode_hex(hex)?)
        }
    }
}

fn from_element(input_kind: InputKind, element: ElementString) -> Result<Parsed, IdError> {
    let identity = Identity::from_ais(element.ais())?;
    Ok(Parsed {
        input_kind,
        element,
        identity,
        gcp_len: None,
        tag: None,
    })
}

fn from_tag(input_kind: InputKind, tag: EpcTag) -> Result<Parsed, IdError> {
    let identity = tag.identity().clone();
    let gcp_len = tag.gcp_len();
    from_identity(input_kind, identity, gcp_len, Some(tag))
}

fn from_identity(
    input_kind: InputKind,
    identity: Identity,
    gcp_len: usize,
    tag: Option<EpcTag>,
) -> Result<Parsed, IdError> {
    let ais = identity.to_ais();
    let element = if ais.is_empty() {
        ElementString::empty()
    } else {
        ElementString::from_ais(ais)?
    };
    let gcp_len = match identity {
        Identity::Gid(_) => None,
        _ => Some(gcp_len),
    };
    Ok(Parsed {
        input_kind,
        element,
        identity: Some(identity),
        gcp_len,
        tag,
    })
}

impl Parsed {
    /// The AI pairs in element-string order.
    pub fn ais(&self) -> &[(String, String)] {
        self.element.ais()
    }

    /// The bracketed element string, e.g. `(01)09521234543213(21)ABC`.
    pub fn bracketed(&self) -> String {
        self.element.to_bracketed()
    }

    /// The canonical GS1 Digital Link on `https://id.gs1.org`, or `None` when the data holds no
    /// Digital Link primary key (a GID, say).
    pub fn digital_link(&self) -> Option<String> {
        if self.element.ais().is_empty() {
            return None;
        }
        self.element.to_digital_link().ok()
    }

    /// The EPC pure identity URI. The company prefix length comes from the input itself when it
    /// carries one (EPC URI, tag URI, binary), otherwise from `resolver`; when neither knows it,
    /// this is an error saying so, never a guess.
    pub fn epc_uri(&self, resolver: &GcpResolver) -> Result<String, IdError> {
        let identity = self.identity.as_ref().ok_or_else(|| {
            IdError::syntax(
                "the data names no serialised unit (an EPC needs e.g. (01) with (21), or (00))",
            )
        })?;
        match self.gcp_len {
            Some(len) => identity.to_epc_uri_with_gcp_len(len),
            None => identity.to_epc_uri(resolver),
        }
    }

    /// The GS1 Company Prefix length to use for EPC output: from the input, else the resolver.
    pub fn resolve_gcp_len(&self, resolver: &GcpResolver) -> Result<usize, IdError> {
        match (self.gcp_len, &self.identity) {
            (Some(len), _) => Ok(len),
            (None, Some(identity)) => identity.gcp_len(resolver),
            (None, None) => Err(IdError::syntax("the data names no serialised unit")),
        }
    }

    /// The canonical storage key of the unit (see [`Identity::canonical_key`]).
    pub fn canonical_key(&self) -> Option<String> {
        self.identity.as_ref().map(Identity::canonical_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATAMATRIX: &str = "]d2010952123454321321ABC";
    const DL: &str = "https://example.com/01/09521234543213/21/ABC";
    const EPC: &str = "urn:epc:id:sgtin:9521234.054321.ABC";

    #[test]
    fn every_form_lands_on_the_same_unit() {
        let resolver = GcpResolver::new();
        let a = parse_any(DATAMATRIX).unwrap();
        let b = parse_any(DL).unwrap();
        let c = parse_any(EPC).unwrap();
        assert_eq!(a.input_kind, InputKind::ScanData);
        assert_eq!(b.input_kind, InputKind::DigitalLink);
        assert_eq!(c.input_kind, InputKind::EpcUri);
        assert_eq!(a.identity, b.identity);
        assert_eq!(b.identity, c.identity);
        assert_eq!(a.bracketed(), "(01)09521234543213(21)ABC");
        assert_eq!(c.bracketed(), "(01)09521234543213(21)ABC");
        assert_eq!(
            a.digital_link().as_deref(),
            Some("https://id.gs1.org/01/09521234543213/21/ABC")
        );
        assert_eq!(a.epc_uri(&resolver).unwrap(), c.epc_uri(&resolver).unwrap());
    }

    #[test]
    fn binary_and_tag_uri_carry_their_tag() {
        let p = parse_any("hex:3074257BF7194E4000001A85").unwrap();
        assert_eq!(p.input_kind, InputKind::EpcBinary);
        let tag = p.tag.as_ref().unwrap();
        assert_eq!(tag.filter(), 3);
        assert_eq!(tag.tag_uri(), "urn:epc:tag:sgtin-96:3.0614141.812345.6789");
        assert_eq!(p.bracketed(), "(01)80614141123458(21)6789");
        let t = parse_any("urn:epc:tag:sgtin-96:3.0614141.812345.6789").unwrap();
        assert_eq!(t.input_kind, InputKind::EpcTagUri);
        assert_eq!(t.identity, p.identity);
    }

    #[test]
    fn gtin_without_serial_is_a_product_not_a_unit() {
        let p = parse_any("(01)09521234543213(10)LOT1").unwrap();
        assert!(p.identity.is_none());
        let err = p.epc_uri(&GcpResolver::new()).unwrap_err().to_string();
        assert!(err.contains("no serialised unit"), "{err}");
        assert_eq!(
            p.digital_link().as_deref(),
            Some("https://id.gs1.org/01/09521234543213/10/LOT1")
        );
    }

    #[test]
    fn unknown_company_prefix_is_an_error_not_a_guess() {
        let p = parse_any("(01)09521234543213(21)X").unwrap();
        let none = GcpResolver::new().without_table();
        assert!(p.epc_uri(&none).is_err());
        let configured = GcpResolver::with_prefixes(["952123"])
            .unwrap()
            .without_table();
        assert_eq!(
            p.epc_uri(&configured).unwrap(),
            "urn:epc:id:sgtin:952123.0454321.X"
        );
    }

    #[test]
    fn party_gln_in_every_form() {
        let resolver = GcpResolver::new();
        let p = parse_any("urn:epc:id:pgln:4012345.00000").unwrap();
        assert_eq!(p.bracketed(), "(417)4012345000009");
        let dl = p.digital_link().unwrap();
        assert_eq!(dl, "https://id.gs1.org/417/4012345000009");
        let back = parse_any(&dl).unwrap();
        assert_eq!(back.identity, p.identity);
        assert_eq!(
            back.epc_uri(&resolver).unwrap(),
            "urn:epc:id:pgln:4012345.00000"
        );
        // A party GLN next to a unit's key does not make the data ambiguous: the unit wins.
        let both = parse_any("(01)09521234543213(21)X(417)4012345000009").unwrap();
        assert!(matches!(both.identity, Some(Identity::Sgtin { .. })));
        assert!(parse_any("urn:epc:id:pgln:4012345.00000.0").is_err());
        assert!(parse_any("urn:epc:id:pgln:4012345.0000").is_err());
    }

    #[test]
    fn bad_input_names_the_problem() {
        let err = parse_any("(01)09521234543214(21)X")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("AI (01):"), "{err}");
        assert!(parse_any("").is_err());
        assert!(parse_any("hello")
            .unwrap_err()
            .to_string()
            .contains("unrecognised"));
        assert!(parse_any(&"(".repeat(MAX_INPUT_LEN + 1)).is_err());
        assert!(parse_any("hex:").is_err());
        assert!(parse_any("hex:ZZ").is_err());
    }
}

//! Master data: locations (with hierarchy), products, parties.

use serde::{Deserialize, Serialize};

use crate::limits::{MAX_ATTRIBUTES_BYTES, MAX_ID_LEN, MAX_TEXT_LEN};
use crate::StoreError;

/// A location (GLN / SGLN), with an optional parent for the hierarchy site > building > room > shelf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub id: String,
    pub name: Option<String>,
    pub parent_id: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub attributes: serde_json::Value,
}

/// A trade item by GTIN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub gtin: String,
    pub name: Option<String>,
    pub owner: Option<String>,
    pub warranty: Option<String>,
    pub storage_temp_min_c: Option<f64>,
    pub storage_temp_max_c: Option<f64>,
    pub attributes: serde_json::Value,
}

/// A trading partner by GLN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Party {
    pub gln: String,
    pub name: Option<String>,
    pub attributes: serde_json::Value,
}

fn check_id(what: &str, id: &str) -> Result<(), StoreError> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(StoreError::InvalidInput(format!(
            "{what} must be 1..={MAX_ID_LEN} bytes, got {}",
            id.len()
        )));
    }
    Ok(())
}

fn check_text(what: &str, t: &Option<String>) -> Result<(), StoreError> {
    if let Some(t) = t {
        if t.len() > MAX_TEXT_LEN {
            return Err(StoreError::InvalidInput(format!(
                "{what} longer than {MAX_TEXT_LEN} bytes"
            )));
        }
    }
    Ok(())
}

fn check_attrs(v: &serde_json::Value) -> Result<(), StoreError> {
    if !(v.is_null() || v.is_object()) {
        return Err(StoreError::InvalidInput(
            "attributes must be a JSON object or null".into(),
        ));
    }
    let len = serde_json::to_string(v)
        .map(|s| s.len())
        .unwrap_or(usize::MAX);
    if len > MAX_ATTRIBUTES_BYTES {
        return Err(StoreError::InvalidInput(format!(
            "attributes larger than {MAX_ATTRIBUTES_BYTES} bytes"
        )));
    }
    Ok(())
}

impl Location {
    pub fn new(id: impl Into<String>, parent_id: Option<&str>) -> Self {
        Location {
            id: id.into(),
            name: None,
            parent_id: parent_id.map(str::to_string),
            latitude: None,
            longitude: None,
            attributes: serde_json::Value::Null,
        }
    }

    pub fn validate(&self) -> Result<(), StoreError> {
        check_id("location id", &self.id)?;
        if let Some(p) = &self.parent_id {
            check_id("location parent id", p)?;
            if p == &self.id {
                return Err(StoreError::InvalidInput(format!(
                    "location {} cannot be its own parent",
                    self.id
                )));
            }
        }
        check_text("location name", &self.name)?;
        if let Some(lat) = self.latitude {
            if !(-90.0..=90.0).contains(&lat) {
                return Err(StoreError::InvalidInput(format!(
                    "latitude {lat} outside -90..=90"
                )));
            }
        }
        if let Some(lon) = self.longitude {
            if !(-180.0..=180.0).contains(&lon) {
                return Err(StoreError::InvalidInput(format!(
                    "longitude {lon} outside -180..=180"
                )));
            }
        }
        check_attrs(&self.attributes)
    }
}

impl Product {
    pub fn validate(&self) -> Result<(), StoreError> {
        check_id("GTIN", &self.gtin)?;
        check_text("product name", &self.name)?;
        check_text("product owner", &self.owner)?;
        check_text("product warranty", &self.warranty)?;
        for t in [self.storage_temp_min_c, self.storage_temp_max_c]
            .into_iter()
            .flatten()
        {
            if !t.is_finite() {
                return Err(StoreError::InvalidInput(
                    "storage temperature must be finite".into(),
                ));
            }
        }
        if let (Some(a), Some(b)) = (self.storage_temp_min_c, self.storage_temp_max_c) {
            if a > b {
                return Err(StoreError::InvalidInput(format!(
                    "storage temperature min {a} above max {b}"
                )));
            }
        }
        check_attrs(&self.attributes)
    }
}

impl Party {
    pub fn validate(&self) -> Result<(), StoreError> {
        check_id("GLN", &self.gln)?;
        check_text("party name", &self.name)?;
        check_attrs(&self.attributes)
    }
}

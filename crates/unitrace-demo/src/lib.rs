//! The unitrace demo dataset: a deterministic, realistic set of master data and EPCIS 2.0
//! documents for three supply chains, sans IO (no files, no network, no clock).
//!
//! ```
//! let demo = unitrace_demo::generate(&unitrace_demo::DemoConfig::default());
//! for doc in &demo.documents {
//!     let bytes = serde_json::to_vec(doc).unwrap();
//!     // POST `bytes` to /capture, or store them through the capture path.
//!     assert!(unitrace_epcis::validate_document(&bytes).is_ok());
//! }
//! let stories = unitrace_demo::stories(&demo);
//! println!("recalled lot {} of {}", stories.recalled_lot.lot, stories.recalled_lot.gtin);
//! ```
//!
//! The scenarios:
//! 1. **Electronics**: Northwind Computing (GCP 4012345) serialises laptops at its plant in Cork,
//!    packs them into cases and pallets (SSCC), ships them to Brightlane Retail's distribution
//!    centre in Erfurt, which unpacks the pallets and ships cases to four stores; the stores unpack,
//!    stock the shelves and sell. One laptop is returned under warranty, repaired at the plant and
//!    handed back to its owner ([`Stories::returned_laptop`]).
//! 2. **Pharmaceuticals**: Meridian Pharma Packaging (GCP 0614141) packs two medicines in four lots
//!    (GTIN, randomised serial, lot and expiry in the ILMD), aggregates them to cases and pallets,
//!    ships to a wholesaler in Kassel, which ships mixed cases to eight pharmacies, which stock the
//!    packs on shelves and dispense them. One lot is the recall candidate
//!    ([`Stories::recalled_lot`]); one pack is scanned at two pharmacies 600 km apart within
//!    minutes ([`Stories::cloned_pack`]); one pack was moved to another shelf without a scan
//!    ([`Stories::moved_without_scan`]).
//! 3. **Cold chain**: Skagerrak Seafood (GCP 9521567) serialises cases of fresh fish, palletises
//!    them and trucks them to Brightlane's chill room with a temperature logger reporting hourly;
//!    exactly one report is outside the products' storage range ([`Stories::excursion`]).
//!
//! Everything is a pure function of [`DemoConfig`]: two runs give byte-identical output on any
//! machine (a fixed-seed SplitMix64 generator, integer arithmetic for every generated value).
//! Events are in time order inside each document, and documents are in time order inside each
//! scenario, so capturing the documents in [`Demo::documents`] order respects causality.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use serde_json::{json, Map, Value};
use unitrace_id::identity::{Giai, Gln, GlnExtension, Gtin, Identity, Serial, Sscc};

/// The JSON-LD context of every generated document.
pub const EPCIS_CONTEXT: &str = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld";

/// The time of the first event: 2026-01-05T08:00:00Z (a Monday), as Unix seconds.
pub const START_UNIX: i64 = 1_767_600_000;

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;
const GCP_LEN: usize = 7;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoConfig {
    /// Multiplies the number of units of every scenario (1 gives about 2,600 serialised items and
    /// 200 containers). At least 1.
    pub scale: u32,
    /// The most events in one document (at least 1).
    pub max_events_per_document: usize,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            scale: 1,
            max_events_per_document: 200,
        }
    }
}

/// The generated dataset.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Demo {
    /// Parties, locations and products: every one that the events name.
    pub master_data: MasterData,
    /// EPCIS 2.0 JSON-LD `EPCISDocument`s, to be captured in this order.
    pub documents: Vec<Value>,
    /// The units the interesting stories are about (also returned by [`stories`]).
    pub stories: Stories,
    /// How much was generated.
    pub summary: Summary,
}

/// Master data for everything the events mention.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MasterData {
    /// Sites and their sub-locations, parents before children.
    pub locations: Vec<Location>,
    /// Trade items (one per GTIN).
    pub products: Vec<Product>,
    /// Trading partners.
    pub parties: Vec<Party>,
}

impl MasterData {
    /// The location with this SGLN EPC URI.
    pub fn location(&self, id: &str) -> Option<&Location> {
        self.locations.iter().find(|l| l.id == id)
    }
    /// The product with this GTIN (14 digits).
    pub fn product(&self, gtin: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.gtin == gtin)
    }
    /// The party with this GLN (13 digits) or party SGLN EPC URI.
    pub fn party(&self, id: &str) -> Option<&Party> {
        self.parties.iter().find(|p| p.gln == id || p.id == id)
    }
    /// The site (top of the hierarchy) a location belongs to.
    pub fn site_of<'a>(&'a self, id: &str) -> Option<&'a Location> {
        let mut l = self.location(id)?;
        while let Some(p) = &l.parent {
            l = self.location(p)?;
        }
        Some(l)
    }
}

/// A place: a site, a building, a room, a shelf or a dock.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Location {
    /// SGLN EPC URI (`urn:epc:id:sgln:...`); sub-locations carry a GLN extension.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// The enclosing location (`None` for a site).
    pub parent: Option<String>,
    /// What kind of place.
    pub kind: LocationKind,
    /// WGS 84 latitude, degrees.
    pub lat: f64,
    /// WGS 84 longitude, degrees.
    pub lon: f64,
    /// The GLN (13 digits) of the party that owns it.
    pub owner: String,
}

/// The kinds of location.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LocationKind {
    /// A site with its own GLN.
    Site,
    /// A building on a site.
    Building,
    /// A room or area in a building.
    Room,
    /// A shelf or rack position in a room.
    Shelf,
    /// A loading dock.
    Dock,
}

/// A trade item.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Product {
    /// GTIN, 14 digits.
    pub gtin: String,
    /// Description.
    pub name: String,
    /// The GLN of the brand owner.
    pub owner: String,
    /// Warranty in months (0: none).
    pub warranty_months: u32,
    /// Lowest storage temperature, °C.
    pub storage_temp_min_c: f64,
    /// Highest storage temperature, °C.
    pub storage_temp_max_c: f64,
    /// Other attributes (category, pack size, ...).
    pub attributes: BTreeMap<String, String>,
}

/// A trading partner.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Party {
    /// The party's GLN (13 digits).
    pub gln: String,
    /// The EPC URI that names the party in `owning_party` sources and destinations (the SGLN of
    /// its GLN without extension).
    pub id: String,
    /// Name.
    pub name: String,
    /// Role in the supply chain.
    pub role: PartyRole,
}

/// What a party does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PartyRole {
    /// Makes and serialises products.
    Manufacturer,
    /// Packs medicines (and serialises them).
    Packer,
    /// Pharmaceutical wholesaler.
    Wholesaler,
    /// Retailer with a distribution centre and stores.
    Retailer,
    /// Dispensing pharmacies.
    Pharmacy,
}

/// Sizes of the generated dataset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Serialised trade items (SGTINs) commissioned.
    pub items: usize,
    /// Logistic units (SSCCs: cases and pallets).
    pub containers: usize,
    /// `items + containers`.
    pub units: usize,
    /// Events in all documents.
    pub events: usize,
    /// Documents.
    pub documents: usize,
    /// Locations in the master data.
    pub locations: usize,
    /// Products in the master data.
    pub products: usize,
    /// Parties in the master data.
    pub parties: usize,
}

/// The units the end-to-end stories are about.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stories {
    /// The laptop returned under warranty, repaired and handed back.
    pub returned_laptop: ReturnedLaptop,
    /// The pharmaceutical lot to recall.
    pub recalled_lot: RecalledLot,
    /// The pack scanned at two pharmacies far apart within minutes.
    pub cloned_pack: ClonedPack,
    /// The pack moved to another shelf without a scan.
    pub moved_without_scan: MovedUnit,
    /// The shipment with one temperature report out of range.
    pub excursion: Excursion,
}

/// See [`Stories::returned_laptop`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReturnedLaptop {
    /// SGTIN EPC URI.
    pub epc: String,
    /// The store that sold it and took it back.
    pub store: String,
    /// The room where it was repaired.
    pub repair_location: String,
    /// When it was sold.
    pub sold_at: String,
    /// When the customer brought it back.
    pub returned_at: String,
    /// The RMA business transaction.
    pub rma: String,
}

/// See [`Stories::recalled_lot`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecalledLot {
    /// GTIN (14 digits).
    pub gtin: String,
    /// Lot number.
    pub lot: String,
    /// Expiry date (`YYYY-MM-DD`).
    pub expiry: String,
    /// Every pack of the lot (SGTIN EPC URIs, commissioning order).
    pub units: Vec<String>,
    /// The sites where packs of the lot end up (pharmacies), sorted.
    pub sites: Vec<String>,
    /// The other lots of the packer, as (GTIN, lot), which a recall must not touch.
    pub other_lots: Vec<(String, String)>,
}

/// See [`Stories::cloned_pack`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClonedPack {
    /// SGTIN EPC URI (commissioned once).
    pub epc: String,
    /// The two sightings (ObjectEvent OBSERVE), in time order.
    pub sightings: [Sighting; 2],
    /// Great-circle distance between the two read points, km (rounded down).
    pub distance_km: u32,
    /// Minutes between the two sightings.
    pub minutes_apart: u32,
}

/// One scan of a unit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sighting {
    /// The read point (a room of a pharmacy).
    pub read_point: String,
    /// Event time.
    pub time: String,
}

/// See [`Stories::moved_without_scan`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MovedUnit {
    /// SGTIN EPC URI.
    pub epc: String,
    /// Where the events put it (its last bizLocation).
    pub recorded_location: String,
    /// Where a count finds it.
    pub actual_location: String,
}

/// See [`Stories::excursion`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Excursion {
    /// The pallets (SSCC EPC URIs) of the truck with the excursion.
    pub pallets: Vec<String>,
    /// The cases (SGTIN EPC URIs) on those pallets.
    pub cases: Vec<String>,
    /// The logger's device ID.
    pub device_id: String,
    /// When the out-of-range value was measured.
    pub time: String,
    /// The value, °C.
    pub value_c: f64,
    /// The allowed range of the products, °C.
    pub allowed_c: (f64, f64),
}

/// The stories of a generated dataset.
pub fn stories(demo: &Demo) -> Stories {
    demo.stories.clone()
}

/// Generates the dataset. Deterministic: the same config gives the same bytes.
pub fn generate(config: &DemoConfig) -> Demo {
    let scale = config.scale.max(1) as usize;
    let mut g = Gen::new();
    let electronics = g.electronics(scale);
    let pharma = g.pharma(scale);
    let food = g.food(scale);
    let per_doc = config.max_events_per_document.max(1);
    let mut documents = Vec::new();
    let mut events = 0;
    for mut evs in [electronics.events, pharma.events, food.events] {
        evs.sort_by_key(|(t, _)| *t);
        events += evs.len();
        for chunk in evs.chunks(per_doc) {
            let last = chunk.last().map_or(START_UNIX, |(t, _)| *t);
            documents.push(json!({
                "@context": [EPCIS_CONTEXT],
                "type": "EPCISDocument",
                "schemaVersion": "2.0",
                "creationDate": ts(last + 60),
                "epcisBody": {
                    "eventList": chunk.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>()
                }
            }));
        }
    }
    let summary = Summary {
        items: g.items,
        containers: g.containers,
        units: g.items + g.containers,
        events,
        documents: documents.len(),
        locations: g.md.locations.len(),
        products: g.md.products.len(),
        parties: g.md.parties.len(),
    };
    Demo {
        master_data: g.md,
        documents,
        stories: Stories {
            returned_laptop: electronics.story,
            recalled_lot: pharma.story.0,
            cloned_pack: pharma.story.1,
            moved_without_scan: pharma.story.2,
            excursion: food.story,
        },
        summary,
    }
}

// ---------------------------------------------------------------- deterministic randomness

/// SplitMix64: small, fast, and the same on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0), by rejection so there is no modulo bias.
    fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next();
            if x < zone {
                return x % n;
            }
        }
    }
    /// True with probability `pct` percent.
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

// ---------------------------------------------------------------- time

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's civil_from_days).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// RFC 3339 UTC timestamp of Unix seconds.
fn ts(t: i64) -> String {
    let (y, m, d) = civil(t.div_euclid(DAY));
    let s = t.rem_euclid(DAY);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// `YYYY-MM-DD` of Unix seconds.
fn date(t: i64) -> String {
    let (y, m, d) = civil(t.div_euclid(DAY));
    format!("{y:04}-{m:02}-{d:02}")
}

/// A time step shrunk for larger scales, so every phase still fits in its day.
fn gap(secs: i64, scale: i64) -> i64 {
    (secs / scale).max(1)
}

/// Midnight UTC of day `n` of the demo (day 0 is 2026-01-05).
fn day(n: i64) -> i64 {
    START_UNIX - 8 * HOUR + n * DAY
}

// ---------------------------------------------------------------- identifiers

fn with_check(body: &str) -> String {
    let c = unitrace_id::check::gs1_check_digit(body.as_bytes()).expect("digits");
    format!("{body}{}", char::from(c))
}

fn epc(id: &Identity) -> String {
    id.to_epc_uri_with_gcp_len(GCP_LEN)
        .expect("demo identifiers are valid")
}

fn sgtin(gtin: &str, serial: &str) -> String {
    epc(&Identity::Sgtin {
        gtin: Gtin::new(gtin).expect("valid GTIN"),
        serial: Serial::new(serial).expect("valid serial"),
    })
}

fn sgln(gln: &str, ext: Option<&str>) -> String {
    epc(&Identity::Sgln {
        gln: Gln::new(gln).expect("valid GLN"),
        extension: ext.and_then(|e| GlnExtension::new(e).expect("valid extension")),
    })
}

/// Distance between two points on the earth, km.
pub fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0 * a.sqrt().asin()
}

/// A company with a 7-digit GS1 Company Prefix.
#[derive(Clone)]
struct Company {
    gcp: &'static str,
    gln: String,
    id: String,
    next_sscc: u64,
}

impl Company {
    fn new(gcp: &'static str) -> Company {
        let gln = with_check(&format!("{gcp}00000"));
        let id = sgln(&gln, None);
        Company {
            gcp,
            gln,
            id,
            next_sscc: 0,
        }
    }
    /// GTIN-14 with indicator 0 and a 5-digit item reference.
    fn gtin(&self, item: u32) -> String {
        with_check(&format!("0{}{item:05}", self.gcp))
    }
    /// GLN with a 5-digit location reference.
    fn gln(&self, loc: u32) -> String {
        with_check(&format!("{}{loc:05}", self.gcp))
    }
    /// The next SSCC EPC URI (extension digit 3: cases, 9: pallets... any digit is valid).
    fn sscc(&mut self, ext: u8) -> String {
        self.next_sscc += 1;
        let body = format!("{ext}{}{:09}", self.gcp, 100_000_000 + self.next_sscc);
        epc(&Identity::Sscc(
            Sscc::new(&with_check(&body)).expect("valid SSCC"),
        ))
    }
    fn bt(&self, kind: &str, n: u64) -> String {
        format!("urn:epcglobal:cbv:bt:{}:{kind}-{n}", self.gln)
    }
}

// ---------------------------------------------------------------- events

/// An event under construction; members are kept in insertion order.
struct Ev(Map<String, Value>);

impl Ev {
    fn new(ty: &str, t: i64, tz: &str) -> Ev {
        let mut m = Map::new();
        m.insert("type".into(), ty.into());
        m.insert("eventTime".into(), ts(t).into());
        m.insert("eventTimeZoneOffset".into(), tz.into());
        Ev(m)
    }
    fn object(t: i64, tz: &str, action: &str, epcs: &[String]) -> Ev {
        let mut e = Ev::new("ObjectEvent", t, tz);
        e.0.insert("epcList".into(), json!(epcs));
        e.0.insert("action".into(), action.into());
        e
    }
    fn aggregation(t: i64, tz: &str, action: &str, parent: &str, children: &[String]) -> Ev {
        let mut e = Ev::new("AggregationEvent", t, tz);
        e.0.insert("parentID".into(), parent.into());
        e.0.insert("childEPCs".into(), json!(children));
        e.0.insert("action".into(), action.into());
        e
    }
    fn set(mut self, k: &str, v: Value) -> Ev {
        self.0.insert(k.into(), v);
        self
    }
    fn step(self, s: &str) -> Ev {
        self.set("bizStep", s.into())
    }
    fn disp(self, d: &str) -> Ev {
        self.set("disposition", d.into())
    }
    fn read_point(self, id: &str) -> Ev {
        self.set("readPoint", json!({ "id": id }))
    }
    fn biz_location(self, id: &str) -> Ev {
        self.set("bizLocation", json!({ "id": id }))
    }
    fn push(mut self, list: &str, key: &str, ty: &str, v: &str) -> Ev {
        let entry = json!({ "type": ty, key: v });
        match self.0.get_mut(list) {
            Some(Value::Array(a)) => a.push(entry),
            _ => {
                self.0.insert(list.into(), Value::Array(vec![entry]));
            }
        }
        self
    }
    fn txn(self, ty: &str, id: &str) -> Ev {
        self.push("bizTransactionList", "bizTransaction", ty, id)
    }
    /// Owning party and location on both ends of a move.
    fn route(self, from: (&str, &str), to: (&str, &str)) -> Ev {
        self.push("sourceList", "source", "owning_party", from.0)
            .push("sourceList", "source", "location", from.1)
            .push("destinationList", "destination", "owning_party", to.0)
            .push("destinationList", "destination", "location", to.1)
    }
}

#[derive(Default)]
struct Events(Vec<(i64, Value)>);

impl Events {
    fn add(&mut self, t: i64, e: Ev) {
        debug_assert_eq!(e.0.get("eventTime"), Some(&Value::String(ts(t))));
        self.0.push((t, Value::Object(e.0)));
    }
}

// ---------------------------------------------------------------- master data building

/// The locations of one site.
#[derive(Clone)]
struct Site {
    id: String,
    building: String,
    dock: String,
    rooms: Vec<String>,
    /// Shelves per room (same index as `rooms`).
    shelves: Vec<Vec<String>>,
}

struct Gen {
    rng: Rng,
    md: MasterData,
    items: usize,
    containers: usize,
    serials: HashSet<String>,
    /// Brightlane's DC, shared by the electronics and the food scenario.
    dc: Option<Site>,
}

struct Out<S> {
    events: Vec<(i64, Value)>,
    story: S,
}

impl Gen {
    fn new() -> Gen {
        Gen {
            rng: Rng(0x756E_6974_7261_6365), // "unitrace"
            md: MasterData::default(),
            items: 0,
            containers: 0,
            serials: HashSet::new(),
            dc: None,
        }
    }

    fn party(&mut self, c: &Company, name: &str, role: PartyRole) {
        self.md.parties.push(Party {
            gln: c.gln.clone(),
            id: c.id.clone(),
            name: name.into(),
            role,
        });
    }

    fn location(
        &mut self,
        id: &str,
        name: String,
        parent: Option<&str>,
        kind: LocationKind,
        (lat, lon): (f64, f64),
        owner: &str,
    ) {
        self.md.locations.push(Location {
            id: id.into(),
            name,
            parent: parent.map(str::to_owned),
            kind,
            lat,
            lon,
            owner: owner.into(),
        });
    }

    /// A site with one building, one dock and `rooms` (name, number of shelves).
    fn site(
        &mut self,
        c: &Company,
        loc_ref: u32,
        name: &str,
        coord: (f64, f64),
        rooms: &[(&str, usize)],
    ) -> Site {
        let gln = c.gln(loc_ref);
        let id = sgln(&gln, None);
        let owner = c.gln.clone();
        self.location(&id, name.into(), None, LocationKind::Site, coord, &owner);
        // Sub-locations sit a few metres apart: coordinates differ in the fourth decimal.
        // Computed in units of 1e-4 degrees so the numbers print as short decimals.
        let step = |x: f64, k: usize| ((x * 1e4).round() + k as f64) / 1e4;
        let near = |k: usize| (step(coord.0, k), step(coord.1, k));
        let building = sgln(&gln, Some("B1"));
        self.location(
            &building,
            format!("{name}, building 1"),
            Some(&id),
            LocationKind::Building,
            near(1),
            &owner,
        );
        let dock = sgln(&gln, Some("B1-D1"));
        self.location(
            &dock,
            format!("{name}, dock 1"),
            Some(&building),
            LocationKind::Dock,
            near(2),
            &owner,
        );
        let mut room_ids = Vec::new();
        let mut shelves = Vec::new();
        for (i, (room, n)) in rooms.iter().enumerate() {
            let rid = sgln(&gln, Some(&format!("B1-R{}", i + 1)));
            self.location(
                &rid,
                format!("{name}, {room}"),
                Some(&building),
                LocationKind::Room,
                near(3 + i),
                &owner,
            );
            let mut sh = Vec::new();
            for s in 0..*n {
                let sid = sgln(&gln, Some(&format!("B1-R{}-S{:02}", i + 1, s + 1)));
                let letter = char::from(b'A' + (s % 26) as u8);
                self.location(
                    &sid,
                    format!("{name}, {room}, shelf {letter}"),
                    Some(&rid),
                    LocationKind::Shelf,
                    near(3 + i),
                    &owner,
                );
                sh.push(sid);
            }
            room_ids.push(rid);
            shelves.push(sh);
        }
        Site {
            id,
            building,
            dock,
            rooms: room_ids,
            shelves,
        }
    }

    fn product(
        &mut self,
        c: &Company,
        item: u32,
        name: &str,
        warranty_months: u32,
        temp: (f64, f64),
        attributes: &[(&str, &str)],
    ) -> String {
        let gtin = c.gtin(item);
        self.md.products.push(Product {
            gtin: gtin.clone(),
            name: name.into(),
            owner: c.gln.clone(),
            warranty_months,
            storage_temp_min_c: temp.0,
            storage_temp_max_c: temp.1,
            attributes: attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
        gtin
    }

    /// A random serial of `len` characters that is unique in the dataset for this GTIN (EU FMD
    /// style: letters and digits without the easily confused I, O, 0, 1).
    fn random_serial(&mut self, gtin: &str, len: usize) -> String {
        const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
        loop {
            let s: String = (0..len)
                .map(|_| char::from(ALPHABET[self.rng.below(ALPHABET.len() as u64) as usize]))
                .collect();
            if self.serials.insert(format!("{gtin}/{s}")) {
                return s;
            }
        }
    }

    // ------------------------------------------------------------ 1. electronics

    fn electronics(&mut self, scale: usize) -> Out<ReturnedLaptop> {
        let sc = scale as i64;
        const TZ_IE: &str = "+00:00";
        const TZ_DE: &str = "+01:00";
        let mut nw = Company::new("4012345");
        let bl = Company::new("9521234");
        self.party(&nw, "Northwind Computing Ltd", PartyRole::Manufacturer);
        self.party(&bl, "Brightlane Retail GmbH", PartyRole::Retailer);
        let plant = self.site(
            &nw,
            1,
            "Northwind plant Cork",
            (51.8985, -8.4756),
            &[
                ("assembly line 1", 0),
                ("assembly line 2", 0),
                ("packing area", 0),
                ("finished goods store", 4),
                ("repair centre", 2),
            ],
        );
        let dc = self.site(
            &bl,
            1,
            "Brightlane distribution centre Erfurt",
            (50.9848, 11.0299),
            &[
                ("inbound area", 0),
                ("high-bay store", 12),
                ("picking area", 0),
                ("chill room 1", 6),
            ],
        );
        self.dc = Some(dc.clone());
        let store_names = [
            ("Brightlane store München", (48.1374, 11.5755)),
            ("Brightlane store Berlin", (52.5200, 13.4050)),
            ("Brightlane store Hamburg", (53.5511, 9.9937)),
            ("Brightlane store Köln", (50.9375, 6.9603)),
        ];
        let stores: Vec<Site> = store_names
            .iter()
            .enumerate()
            .map(|(i, (n, c))| {
                self.site(
                    &bl,
                    10 + i as u32,
                    n,
                    *c,
                    &[("back room", 2), ("sales floor", 6), ("service desk", 0)],
                )
            })
            .collect();
        let models = [
            (
                self.product(
                    &nw,
                    10001,
                    "Northwind Aero 14 laptop, Core i5, 16 GB, 512 GB SSD",
                    24,
                    (-20.0, 60.0),
                    &[
                        ("category", "laptop"),
                        ("screen", "14 in"),
                        ("weight_kg", "1.3"),
                    ],
                ),
                "A14",
            ),
            (
                self.product(
                    &nw,
                    10002,
                    "Northwind Aero 16 laptop, Core i7, 32 GB, 1 TB SSD",
                    24,
                    (-20.0, 60.0),
                    &[
                        ("category", "laptop"),
                        ("screen", "16 in"),
                        ("weight_kg", "1.8"),
                    ],
                ),
                "A16",
            ),
            (
                self.product(
                    &nw,
                    10003,
                    "Northwind Forge 15 mobile workstation, 64 GB, 2 TB SSD",
                    36,
                    (-20.0, 60.0),
                    &[
                        ("category", "laptop"),
                        ("screen", "15.6 in"),
                        ("weight_kg", "2.4"),
                    ],
                ),
                "F15",
            ),
        ];
        let mut ev = Events::default();
        let per_model = 240 * scale;
        let batch = 24;
        // Day 0, from 08:00: commissioning at the two lines, a batch of 24 every 6 minutes.
        let mut laptops: Vec<(String, usize)> = Vec::new(); // (epc, model)
        let mut t = START_UNIX;
        let mut seq = 0u64;
        for (m, (gtin, code)) in models.iter().enumerate() {
            let lot = format!("NW2601{code}");
            for b in 0..per_model.div_ceil(batch) {
                let n = batch.min(per_model - b * batch);
                let epcs: Vec<String> = (0..n)
                    .map(|_| {
                        seq += 1;
                        sgtin(gtin, &format!("NW{code}{:07}", 1_000_000 + seq))
                    })
                    .collect();
                laptops.extend(epcs.iter().map(|e| (e.clone(), m)));
                let line = &plant.rooms[b % 2];
                ev.add(
                    t,
                    Ev::object(t, TZ_IE, "ADD", &epcs)
                        .step("commissioning")
                        .disp("active")
                        .read_point(line)
                        .biz_location(&plant.building)
                        .set("ilmd", json!({ "cbvmda:lotNumber": lot })),
                );
                t += gap(6 * 60, sc);
            }
        }
        self.items += laptops.len();
        // Packing: 5 laptops of one model per case, 24 cases per pallet.
        let mut cases: Vec<(String, Vec<String>, usize)> = Vec::new();
        for m in 0..models.len() {
            let of_model: Vec<String> = laptops
                .iter()
                .filter(|(_, x)| *x == m)
                .map(|(e, _)| e.clone())
                .collect();
            for chunk in of_model.chunks(5) {
                cases.push((nw.sscc(0), chunk.to_vec(), m));
            }
        }
        t += HOUR;
        for (case, kids, _) in &cases {
            ev.add(
                t,
                Ev::aggregation(t, TZ_IE, "ADD", case, kids)
                    .step("packing")
                    .disp("in_progress")
                    .read_point(&plant.rooms[2])
                    .biz_location(&plant.building),
            );
            t += gap(90, sc);
        }
        let mut pallets: Vec<(String, Vec<String>)> = Vec::new();
        for chunk in cases.chunks(24) {
            pallets.push((
                nw.sscc(1),
                chunk.iter().map(|(c, _, _)| c.clone()).collect(),
            ));
        }
        t += 10 * 60;
        for (i, (pallet, kids)) in pallets.iter().enumerate() {
            ev.add(
                t,
                Ev::aggregation(t, TZ_IE, "ADD", pallet, kids)
                    .step("packing")
                    .disp("in_progress")
                    .read_point(&plant.rooms[2])
                    .biz_location(&plant.building),
            );
            let shelf = &plant.shelves[3][i % plant.shelves[3].len()];
            ev.add(
                t + 15 * 60,
                Ev::object(t + 15 * 60, TZ_IE, "OBSERVE", std::slice::from_ref(pallet))
                    .step("storing")
                    .disp("sellable_not_accessible")
                    .read_point(&plant.rooms[3])
                    .biz_location(shelf),
            );
            t += gap(20 * 60, sc);
        }
        self.containers += cases.len() + pallets.len();
        // Day 1, 07:00 UTC: trucks of 3 pallets to the DC (two days on the road and the ferry).
        let mut order = 4_500_100u64;
        for (k, truck) in pallets.chunks(3).enumerate() {
            let ts_ship = day(1) + 7 * HOUR + k as i64 * gap(45 * 60, sc);
            let epcs: Vec<String> = truck.iter().map(|(p, _)| p.clone()).collect();
            order += 1;
            ev.add(
                ts_ship,
                Ev::object(ts_ship, TZ_IE, "OBSERVE", &epcs)
                    .step("shipping")
                    .disp("in_transit")
                    .read_point(&plant.dock)
                    .txn("po", &bl.bt("PO", order))
                    .txn("desadv", &nw.bt("DESADV", order))
                    .txn("inv", &nw.bt("INV", order))
                    .route((&nw.id, &plant.id), (&bl.id, &dc.id)),
            );
            let ts_recv = day(3) + 9 * HOUR + k as i64 * gap(50 * 60, sc);
            ev.add(
                ts_recv,
                Ev::object(ts_recv, TZ_DE, "OBSERVE", &epcs)
                    .step("receiving")
                    .disp("in_progress")
                    .read_point(&dc.dock)
                    .biz_location(&dc.rooms[0])
                    .txn("po", &bl.bt("PO", order))
                    .txn("desadv", &nw.bt("DESADV", order))
                    .route((&nw.id, &plant.id), (&bl.id, &dc.id)),
            );
            for (j, (pallet, kids)) in truck.iter().enumerate() {
                let tu = ts_recv + 30 * 60 + j as i64 * gap(5 * 60, sc);
                ev.add(
                    tu,
                    Ev::aggregation(tu, TZ_DE, "DELETE", pallet, kids)
                        .step("unpacking")
                        .disp("sellable_not_accessible")
                        .read_point(&dc.rooms[0])
                        .biz_location(&dc.rooms[0]),
                );
                let ts_store = tu + 2 * 60;
                let shelf = &dc.shelves[1][(k * 3 + j) % dc.shelves[1].len()];
                ev.add(
                    ts_store,
                    Ev::object(ts_store, TZ_DE, "OBSERVE", kids)
                        .step("storing")
                        .disp("sellable_not_accessible")
                        .read_point(&dc.rooms[1])
                        .biz_location(shelf),
                );
            }
        }
        // Day 4: cases to the stores, round robin (so every store gets every model).
        let mut store_cases: Vec<Vec<usize>> = vec![Vec::new(); stores.len()];
        for i in 0..cases.len() {
            store_cases[i % stores.len()].push(i);
        }
        let mut on_shelf: Vec<(usize, String, i64)> = Vec::new(); // (store, laptop, stocked at)
        for (s, idx) in store_cases.iter().enumerate() {
            let store = &stores[s];
            let epcs: Vec<String> = idx.iter().map(|&i| cases[i].0.clone()).collect();
            order += 1;
            let tp = day(4) + 6 * HOUR + s as i64 * 20 * 60;
            ev.add(
                tp,
                Ev::object(tp, TZ_DE, "OBSERVE", &epcs)
                    .step("picking")
                    .disp("in_progress")
                    .read_point(&dc.rooms[2])
                    .biz_location(&dc.rooms[2]),
            );
            let tship = day(4) + 9 * HOUR + s as i64 * 10 * 60;
            ev.add(
                tship,
                Ev::object(tship, TZ_DE, "OBSERVE", &epcs)
                    .step("shipping")
                    .disp("in_transit")
                    .read_point(&dc.dock)
                    .txn("po", &bl.bt("STO", order))
                    .txn("desadv", &bl.bt("DESADV", order))
                    .route((&bl.id, &dc.id), (&bl.id, &store.id)),
            );
            let trecv = day(5) + 6 * HOUR + s as i64 * 15 * 60;
            ev.add(
                trecv,
                Ev::object(trecv, TZ_DE, "OBSERVE", &epcs)
                    .step("receiving")
                    .disp("sellable_not_accessible")
                    .read_point(&store.dock)
                    .biz_location(&store.rooms[0])
                    .txn("desadv", &bl.bt("DESADV", order))
                    .route((&bl.id, &dc.id), (&bl.id, &store.id)),
            );
            for (n, &i) in idx.iter().enumerate() {
                let (case, kids, model) = &cases[i];
                let tu = trecv + HOUR + n as i64 * gap(3 * 60, sc);
                ev.add(
                    tu,
                    Ev::aggregation(tu, TZ_DE, "DELETE", case, kids)
                        .step("unpacking")
                        .disp("sellable_not_accessible")
                        .read_point(&store.rooms[0])
                        .biz_location(&store.rooms[0]),
                );
                let shelf = &store.shelves[1][*model * 2 + n % 2];
                let tst = tu + 60;
                ev.add(
                    tst,
                    Ev::object(tst, TZ_DE, "OBSERVE", kids)
                        .step("stocking")
                        .disp("sellable_accessible")
                        .read_point(&store.rooms[1])
                        .biz_location(shelf),
                );
                on_shelf.extend(kids.iter().map(|k| (s, k.clone(), tst)));
            }
        }
        // Days 6 to 19: about 55% of the laptops sold, in opening hours (09:00 to 19:00 local).
        let mut sales: Vec<(i64, usize, String)> = Vec::new();
        for (s, laptop, _) in &on_shelf {
            if self.rng.chance(55) {
                let d = 6 + self.rng.below(14) as i64;
                let t = day(d) + 8 * HOUR + self.rng.below(10 * 3600) as i64;
                sales.push((t, *s, laptop.clone()));
            }
        }
        for (t, s, laptop) in &sales {
            ev.add(
                *t,
                Ev::object(*t, TZ_DE, "OBSERVE", std::slice::from_ref(laptop))
                    .step("retail_selling")
                    .disp("retail_sold")
                    .read_point(&stores[*s].rooms[1])
                    .biz_location(&stores[*s].id),
            );
        }
        // The warranty return: the first laptop sold in München comes back 20 days later.
        let (sold, s, laptop) = sales
            .iter()
            .filter(|(_, s, _)| *s == 0)
            .min()
            .cloned()
            .expect("München sells laptops");
        let store = &stores[s];
        let rma = bl.bt("RMA", 70_001);
        let tz = TZ_DE;
        let one = std::slice::from_ref(&laptop);
        let t_ret = sold + 20 * DAY + 2 * HOUR;
        ev.add(
            t_ret,
            Ev::object(t_ret, tz, "OBSERVE", one)
                .step("receiving")
                .disp("returned")
                .read_point(&store.rooms[2])
                .biz_location(&store.rooms[2])
                .txn("rma", &rma),
        );
        let t_ship = t_ret + DAY;
        ev.add(
            t_ship,
            Ev::object(t_ship, tz, "OBSERVE", one)
                .step("shipping")
                .disp("in_transit")
                .read_point(&store.dock)
                .txn("rma", &rma)
                .route((&bl.id, &store.id), (&nw.id, &plant.id)),
        );
        let t_recv = t_ship + 3 * DAY;
        let repair = &plant.rooms[4];
        ev.add(
            t_recv,
            Ev::object(t_recv, TZ_IE, "OBSERVE", one)
                .step("receiving")
                .disp("returned")
                .read_point(&plant.dock)
                .biz_location(&plant.shelves[4][0])
                .txn("rma", &rma)
                .route((&bl.id, &store.id), (&nw.id, &plant.id)),
        );
        let t_rep = t_recv + DAY;
        ev.add(
            t_rep,
            Ev::object(t_rep, TZ_IE, "OBSERVE", one)
                .step("repairing")
                .disp("in_progress")
                .read_point(repair)
                .biz_location(repair)
                .txn("rma", &rma),
        );
        let t_insp = t_rep + 4 * HOUR;
        ev.add(
            t_insp,
            Ev::object(t_insp, TZ_IE, "OBSERVE", one)
                .step("inspecting")
                .disp("conformant")
                .read_point(repair)
                .biz_location(repair)
                .txn("rma", &rma),
        );
        let t_back = t_insp + DAY;
        ev.add(
            t_back,
            Ev::object(t_back, TZ_IE, "OBSERVE", one)
                .step("shipping")
                .disp("in_transit")
                .read_point(&plant.dock)
                .txn("rma", &rma)
                .route((&nw.id, &plant.id), (&bl.id, &store.id)),
        );
        let t_arr = t_back + 3 * DAY;
        ev.add(
            t_arr,
            Ev::object(t_arr, tz, "OBSERVE", one)
                .step("receiving")
                .disp("returned")
                .read_point(&store.dock)
                .biz_location(&store.rooms[2])
                .txn("rma", &rma)
                .route((&nw.id, &plant.id), (&bl.id, &store.id)),
        );
        let t_hand = t_arr + DAY + 3 * HOUR;
        ev.add(
            t_hand,
            Ev::object(t_hand, tz, "OBSERVE", one)
                .step("departing")
                .disp("retail_sold")
                .read_point(&store.rooms[2])
                .biz_location(&store.id)
                .txn("rma", &rma),
        );
        Out {
            events: ev.0,
            story: ReturnedLaptop {
                epc: laptop,
                store: store.id.clone(),
                repair_location: repair.clone(),
                sold_at: ts(sold),
                returned_at: ts(t_ret),
                rma,
            },
        }
    }

    // ------------------------------------------------------------ 2. pharmaceuticals

    fn pharma(&mut self, scale: usize) -> Out<(RecalledLot, ClonedPack, MovedUnit)> {
        let sc = scale as i64;
        const TZ: &str = "+01:00";
        let mut mp = Company::new("0614141");
        let ws = Company::new("4000001");
        let ph = Company::new("4068194");
        self.party(&mp, "Meridian Pharma Packaging GmbH", PartyRole::Packer);
        self.party(&ws, "Hessen Pharma Großhandel AG", PartyRole::Wholesaler);
        self.party(&ph, "Stadt-Apotheken eG", PartyRole::Pharmacy);
        let packer = self.site(
            &mp,
            1,
            "Meridian packaging site Frankfurt",
            (50.1109, 8.6821),
            &[
                ("packaging line 1", 0),
                ("packaging line 2", 0),
                ("warehouse", 6),
            ],
        );
        let whs = self.site(
            &ws,
            1,
            "Hessen Pharma warehouse Kassel",
            (51.3127, 9.4797),
            &[
                ("goods in", 0),
                ("pharma store 15-25 °C", 8),
                ("dispatch", 0),
            ],
        );
        let cities = [
            ("Hamburg", (53.5503, 10.0007)),
            ("München", (48.1351, 11.5820)),
            ("Berlin", (52.5163, 13.3777)),
            ("Köln", (50.9413, 6.9583)),
            ("Stuttgart", (48.7758, 9.1829)),
            ("Dresden", (51.0504, 13.7373)),
            ("Leipzig", (51.3397, 12.3731)),
            ("Nürnberg", (49.4521, 11.0767)),
        ];
        let pharmacies: Vec<Site> = cities
            .iter()
            .enumerate()
            .map(|(i, (c, coord))| {
                self.site(
                    &ph,
                    100 + i as u32,
                    &format!("Stadt-Apotheke {c}"),
                    *coord,
                    &[("dispensary", 4), ("counter", 0)],
                )
            })
            .collect();
        let amx = self.product(
            &mp,
            20001,
            "Amoxicillin 500 mg, 20 capsules",
            0,
            (15.0, 25.0),
            &[
                ("category", "medicine"),
                ("form", "capsule"),
                ("pack_size", "20"),
                ("prescription", "yes"),
            ],
        );
        let ibu = self.product(
            &mp,
            20002,
            "Ibuprofen 400 mg, 50 film-coated tablets",
            0,
            (15.0, 25.0),
            &[
                ("category", "medicine"),
                ("form", "tablet"),
                ("pack_size", "50"),
                ("prescription", "no"),
            ],
        );
        let lots = [
            (&amx, "AMX25A01", "2028-06-30"),
            (&amx, "AMX25A02", "2028-08-31"),
            (&ibu, "IBU25B07", "2028-03-31"),
            (&ibu, "IBU25B08", "2028-05-31"),
        ];
        let per_lot = 400 * scale;
        let mut ev = Events::default();
        let mut packs: Vec<Vec<String>> = Vec::new(); // per lot
        let mut t = START_UNIX + 30 * 60;
        for (l, (gtin, lot, expiry)) in lots.iter().enumerate() {
            let mut all = Vec::new();
            for b in 0..per_lot.div_ceil(100) {
                let n = 100.min(per_lot - b * 100);
                let epcs: Vec<String> = (0..n)
                    .map(|_| {
                        let s = self.random_serial(gtin, 12);
                        sgtin(gtin, &s)
                    })
                    .collect();
                ev.add(
                    t,
                    Ev::object(t, TZ, "ADD", &epcs)
                        .step("commissioning")
                        .disp("active")
                        .read_point(&packer.rooms[l / 2])
                        .biz_location(&packer.building)
                        .set(
                            "ilmd",
                            json!({ "cbvmda:lotNumber": lot, "cbvmda:itemExpirationDate": expiry }),
                        ),
                );
                all.extend(epcs);
                t += gap(5 * 60, sc);
            }
            packs.push(all);
        }
        self.items += per_lot * lots.len();
        // Cases of 40 packs; one pallet per lot.
        let mut cases: Vec<(String, Vec<String>, usize)> = Vec::new(); // (sscc, packs, lot)
        let mut pallets: Vec<(String, Vec<String>)> = Vec::new();
        t += 20 * 60;
        for (l, lot_packs) in packs.iter().enumerate() {
            let mut lot_cases = Vec::new();
            for chunk in lot_packs.chunks(40) {
                let case = mp.sscc(0);
                ev.add(
                    t,
                    Ev::aggregation(t, TZ, "ADD", &case, chunk)
                        .step("packing")
                        .disp("in_progress")
                        .read_point(&packer.rooms[l / 2])
                        .biz_location(&packer.building),
                );
                t += gap(2 * 60, sc);
                lot_cases.push(case.clone());
                cases.push((case, chunk.to_vec(), l));
            }
            let pallet = mp.sscc(1);
            ev.add(
                t,
                Ev::aggregation(t, TZ, "ADD", &pallet, &lot_cases)
                    .step("packing")
                    .disp("in_progress")
                    .read_point(&packer.rooms[2])
                    .biz_location(&packer.building),
            );
            t += gap(5 * 60, sc);
            pallets.push((pallet, lot_cases));
        }
        self.containers += cases.len() + pallets.len();
        // Day 1: to the wholesaler.
        let pallet_ids: Vec<String> = pallets.iter().map(|(p, _)| p.clone()).collect();
        let ts_ship = day(1) + 6 * HOUR;
        ev.add(
            ts_ship,
            Ev::object(ts_ship, TZ, "OBSERVE", &pallet_ids)
                .step("shipping")
                .disp("in_transit")
                .read_point(&packer.dock)
                .txn("po", &ws.bt("PO", 880_001))
                .txn("desadv", &mp.bt("DESADV", 880_001))
                .txn("inv", &mp.bt("INV", 880_001))
                .route((&mp.id, &packer.id), (&ws.id, &whs.id)),
        );
        let ts_recv = day(1) + 9 * HOUR + 30 * 60;
        ev.add(
            ts_recv,
            Ev::object(ts_recv, TZ, "OBSERVE", &pallet_ids)
                .step("receiving")
                .disp("in_progress")
                .read_point(&whs.dock)
                .biz_location(&whs.rooms[0])
                .txn("po", &ws.bt("PO", 880_001))
                .txn("desadv", &mp.bt("DESADV", 880_001))
                .route((&mp.id, &packer.id), (&ws.id, &whs.id)),
        );
        for (i, (pallet, kids)) in pallets.iter().enumerate() {
            let tu = ts_recv + HOUR + i as i64 * 10 * 60;
            ev.add(
                tu,
                Ev::aggregation(tu, TZ, "DELETE", pallet, kids)
                    .step("unpacking")
                    .disp("sellable_not_accessible")
                    .read_point(&whs.rooms[0])
                    .biz_location(&whs.rooms[0]),
            );
            ev.add(
                tu + 120,
                Ev::object(tu + 120, TZ, "OBSERVE", kids)
                    .step("storing")
                    .disp("sellable_not_accessible")
                    .read_point(&whs.rooms[1])
                    .biz_location(&whs.shelves[1][i % whs.shelves[1].len()]),
            );
        }
        // Day 2: cases round robin to the pharmacies, so every lot reaches several of them.
        let mut per_pharmacy: Vec<Vec<usize>> = vec![Vec::new(); pharmacies.len()];
        for i in 0..cases.len() {
            per_pharmacy[i % pharmacies.len()].push(i);
        }
        // (pharmacy, pack, lot, shelf)
        let mut stocked: Vec<(usize, String, usize, String)> = Vec::new();
        for (p, idx) in per_pharmacy.iter().enumerate() {
            let site = &pharmacies[p];
            let epcs: Vec<String> = idx.iter().map(|&i| cases[i].0.clone()).collect();
            let order = 990_000 + p as u64;
            let tship = day(2) + 5 * HOUR + p as i64 * 5 * 60;
            ev.add(
                tship,
                Ev::object(tship, TZ, "OBSERVE", &epcs)
                    .step("shipping")
                    .disp("in_transit")
                    .read_point(&whs.dock)
                    .txn("po", &ph.bt("PO", order))
                    .txn("desadv", &ws.bt("DESADV", order))
                    .txn("inv", &ws.bt("INV", order))
                    .route((&ws.id, &whs.id), (&ph.id, &site.id)),
            );
            let trecv = day(3) + 7 * HOUR + p as i64 * 7 * 60;
            ev.add(
                trecv,
                Ev::object(trecv, TZ, "OBSERVE", &epcs)
                    .step("receiving")
                    .disp("in_progress")
                    .read_point(&site.dock)
                    .biz_location(&site.rooms[0])
                    .txn("desadv", &ws.bt("DESADV", order))
                    .route((&ws.id, &whs.id), (&ph.id, &site.id)),
            );
            for (n, &i) in idx.iter().enumerate() {
                let (case, kids, l) = &cases[i];
                let tu = trecv + 20 * 60 + n as i64 * gap(4 * 60, sc);
                ev.add(
                    tu,
                    Ev::aggregation(tu, TZ, "DELETE", case, kids)
                        .step("unpacking")
                        .disp("sellable_not_accessible")
                        .read_point(&site.rooms[0])
                        .biz_location(&site.rooms[0]),
                );
                // Amoxicillin on shelves A and B, ibuprofen on C and D.
                let shelf = site.shelves[0][(l / 2) * 2 + n % 2].clone();
                ev.add(
                    tu + 60,
                    Ev::object(tu + 60, TZ, "OBSERVE", kids)
                        .step("stocking")
                        .disp("sellable_accessible")
                        .read_point(&site.rooms[0])
                        .biz_location(&shelf),
                );
                stocked.extend(kids.iter().map(|k| (p, k.clone(), *l, shelf.clone())));
            }
        }
        // The story units, chosen before dispensing so they stay on the shelf.
        let hamburg = 0;
        let munich = 1;
        let berlin = 2;
        let clone_idx = stocked
            .iter()
            .position(|(p, _, l, _)| *p == hamburg && *l == 2)
            .expect("Hamburg stocks ibuprofen");
        let moved_idx = stocked
            .iter()
            .position(|(p, _, l, shelf)| {
                *p == berlin && *l == 0 && *shelf == pharmacies[berlin].shelves[0][0]
            })
            .expect("Berlin stocks amoxicillin on shelf A");
        // Days 4 to 20: about 40% of the packs dispensed, in opening hours.
        for (i, (p, pack, _, _)) in stocked.iter().enumerate() {
            if i == clone_idx || i == moved_idx || !self.rng.chance(40) {
                continue;
            }
            let d = 4 + self.rng.below(17) as i64;
            let t = day(d) + 7 * HOUR + self.rng.below(11 * 3600) as i64;
            ev.add(
                t,
                Ev::object(t, TZ, "OBSERVE", std::slice::from_ref(pack))
                    .step("dispensing")
                    .disp("dispensed")
                    .read_point(&pharmacies[*p].rooms[1])
                    .biz_location(&pharmacies[*p].id),
            );
        }
        // The clone: verification scans in Hamburg and, 7 minutes later, in München.
        let clone = stocked[clone_idx].1.clone();
        let t1 = day(12) + 13 * HOUR + 2 * 60 + 17;
        let t2 = t1 + 7 * 60 + 5;
        let mut sightings = Vec::new();
        for (t, p) in [(t1, hamburg), (t2, munich)] {
            let rp = &pharmacies[p].rooms[1];
            ev.add(
                t,
                Ev::object(t, TZ, "OBSERVE", std::slice::from_ref(&clone))
                    .step("inspecting")
                    .read_point(rp),
            );
            sightings.push(Sighting {
                read_point: rp.clone(),
                time: ts(t),
            });
        }
        let (a, b) = (cities[hamburg].1, cities[munich].1);
        let km = distance_km(a.0, a.1, b.0, b.1);
        let sightings: [Sighting; 2] = sightings.try_into().expect("two sightings");
        // The recall candidate: the second amoxicillin lot.
        let recalled = 1;
        let mut sites: Vec<String> = stocked
            .iter()
            .filter(|(_, _, l, _)| *l == recalled)
            .map(|(p, _, _, _)| pharmacies[*p].id.clone())
            .collect();
        sites.sort();
        sites.dedup();
        let moved = &stocked[moved_idx];
        Out {
            events: ev.0,
            story: (
                RecalledLot {
                    gtin: lots[recalled].0.clone(),
                    lot: lots[recalled].1.into(),
                    expiry: lots[recalled].2.into(),
                    units: packs[recalled].clone(),
                    sites,
                    other_lots: lots
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| *i != recalled)
                        .map(|(_, (g, l, _))| ((*g).clone(), (*l).to_string()))
                        .collect(),
                },
                ClonedPack {
                    epc: clone,
                    sightings,
                    distance_km: km as u32,
                    minutes_apart: ((t2 - t1) / 60) as u32,
                },
                MovedUnit {
                    epc: moved.1.clone(),
                    recorded_location: moved.3.clone(),
                    actual_location: pharmacies[berlin].shelves[0][1].clone(),
                },
            ),
        }
    }

    // ------------------------------------------------------------ 3. cold chain

    fn food(&mut self, scale: usize) -> Out<Excursion> {
        let sc = scale as i64;
        const TZ: &str = "+01:00";
        let mut sk = Company::new("9521567");
        let bl = Company::new("9521234");
        self.party(&sk, "Skagerrak Seafood A/S", PartyRole::Manufacturer);
        let plant = self.site(
            &sk,
            1,
            "Skagerrak Seafood processing plant Hirtshals",
            (57.5881, 9.9596),
            &[("filleting and packing", 0), ("cold store", 4)],
        );
        let dc = self
            .dc
            .take()
            .expect("the electronics scenario made the DC");
        let (dc_id, dc_dock) = (dc.id.clone(), dc.dock.clone());
        let chill = dc.rooms[3].clone();
        let chill_shelves = dc.shelves[3].clone();
        let range = (0.0, 4.0);
        let salmon = self.product(
            &sk,
            30001,
            "Fresh Atlantic salmon fillet, skin on, 4 x 250 g (case)",
            0,
            range,
            &[
                ("category", "fresh fish"),
                ("shelf_life_days", "10"),
                ("net_weight_kg", "1.0"),
            ],
        );
        let cod = self.product(
            &sk,
            30002,
            "Fresh cod loin, 6 x 200 g (case)",
            0,
            range,
            &[
                ("category", "fresh fish"),
                ("shelf_life_days", "8"),
                ("net_weight_kg", "1.2"),
            ],
        );
        let mut ev = Events::default();
        let per_product = 144 * scale;
        let mut t = START_UNIX + 2 * DAY - 2 * HOUR;
        let mut pallets: Vec<(String, Vec<String>)> = Vec::new();
        let mut seq = 0u64;
        for (gtin, lot, shelf_life) in [(&salmon, "SAL260107", 10), (&cod, "COD260107", 8)] {
            for chunk_start in (0..per_product).step_by(48) {
                let n = 48.min(per_product - chunk_start);
                let epcs: Vec<String> = (0..n)
                    .map(|_| {
                        seq += 1;
                        sgtin(gtin, &format!("{}", 40_000_000 + seq))
                    })
                    .collect();
                ev.add(
                    t,
                    Ev::object(t, TZ, "ADD", &epcs)
                        .step("commissioning")
                        .disp("active")
                        .read_point(&plant.rooms[0])
                        .biz_location(&plant.building)
                        .set(
                            "ilmd",
                            json!({
                                "cbvmda:lotNumber": lot,
                                "cbvmda:bestBeforeDate": date(t + shelf_life * DAY),
                            }),
                        ),
                );
                let pallet = sk.sscc(1);
                let tp = t + 40 * 60;
                ev.add(
                    tp,
                    Ev::aggregation(tp, TZ, "ADD", &pallet, &epcs)
                        .step("packing")
                        .disp("in_progress")
                        .read_point(&plant.rooms[0])
                        .biz_location(&plant.building),
                );
                ev.add(
                    tp + 10 * 60,
                    Ev::object(tp + 10 * 60, TZ, "OBSERVE", std::slice::from_ref(&pallet))
                        .step("storing")
                        .disp("sellable_not_accessible")
                        .read_point(&plant.rooms[1])
                        .biz_location(&plant.shelves[1][pallets.len() % 4]),
                );
                self.items += epcs.len();
                pallets.push((pallet, epcs));
                t += gap(HOUR, sc);
            }
        }
        self.containers += pallets.len();
        // Day 2, 18:00: reefer trucks with 3 pallets each, 14 hours to Erfurt, a logger per truck.
        let mut story = None;
        let trucks: Vec<&[(String, Vec<String>)]> = pallets.chunks(3).collect();
        let excursion_truck = trucks.len() - 1;
        for (k, truck) in trucks.iter().enumerate() {
            let ids: Vec<String> = truck.iter().map(|(p, _)| p.clone()).collect();
            let order = 310_000 + k as u64;
            let device = epc(&Identity::Giai(
                Giai::new(&format!("{}TL{:04}", sk.gcp, 40 + k)).expect("valid GIAI"),
            ));
            let t0 = day(2) + 17 * HOUR + k as i64 * gap(20 * 60, sc);
            ev.add(
                t0,
                Ev::object(t0, TZ, "OBSERVE", &ids)
                    .step("shipping")
                    .disp("in_transit")
                    .read_point(&plant.dock)
                    .txn("po", &bl.bt("PO", order))
                    .txn("desadv", &sk.bt("DESADV", order))
                    .txn("inv", &sk.bt("INV", order))
                    .route((&sk.id, &plant.id), (&bl.id, &dc_id)),
            );
            for h in 1..=14i64 {
                let tr = t0 + h * HOUR;
                let excursion = k == excursion_truck && h == 9;
                // Tenths of a degree, integer arithmetic: 1.2 to 3.6 °C; 7.4 °C in the excursion.
                let tenths = if excursion {
                    74
                } else {
                    12 + self.rng.below(25) as i64
                };
                let value = tenths as f64 / 10.0;
                ev.add(
                    tr,
                    Ev::object(tr, TZ, "OBSERVE", &ids)
                        .step("sensor_reporting")
                        .set(
                            "sensorElementList",
                            json!([{
                                "sensorMetadata": { "time": ts(tr), "deviceID": device },
                                "sensorReport": [{
                                    "type": "gs1:Temperature",
                                    "value": value,
                                    "uom": "CEL"
                                }]
                            }]),
                        ),
                );
                if excursion {
                    story = Some(Excursion {
                        pallets: ids.clone(),
                        cases: truck.iter().flat_map(|(_, c)| c.iter().cloned()).collect(),
                        device_id: device.clone(),
                        time: ts(tr),
                        value_c: value,
                        allowed_c: range,
                    });
                }
            }
            let ta = t0 + 15 * HOUR;
            ev.add(
                ta,
                Ev::object(ta, TZ, "OBSERVE", &ids)
                    .step("receiving")
                    .disp("in_progress")
                    .read_point(&dc_dock)
                    .biz_location(&chill)
                    .txn("po", &bl.bt("PO", order))
                    .txn("desadv", &sk.bt("DESADV", order))
                    .route((&sk.id, &plant.id), (&bl.id, &dc_id)),
            );
            for (j, p) in ids.iter().enumerate() {
                let tsr = ta + 20 * 60 + j as i64 * 5 * 60;
                ev.add(
                    tsr,
                    Ev::object(tsr, TZ, "OBSERVE", std::slice::from_ref(p))
                        .step("storing")
                        .disp("sellable_not_accessible")
                        .read_point(&chill)
                        .biz_location(&chill_shelves[(k * 3 + j) % chill_shelves.len()]),
                );
            }
        }
        Out {
            events: ev.0,
            story: story.expect("the last truck has the excursion"),
        }
    }
}

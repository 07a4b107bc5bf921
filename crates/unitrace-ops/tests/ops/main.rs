//! Integration tests of the operations (one binary): `a` serials, verification, alerts and
//! decommissioning; `b` receiving, cycle counts and recalls.

mod a;
mod b;

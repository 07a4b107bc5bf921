//! Receiving, cycle counts, recalls.

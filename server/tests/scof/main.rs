//! Tests of the SCOF parser and of `apply_patch`, through the public API.

mod corpus;
mod parser;
mod patch;
mod props;
mod support;
mod tolerant;

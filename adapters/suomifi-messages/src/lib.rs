//! Suomi.fi Messages adapter (being written).

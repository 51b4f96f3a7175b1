//! Suomi.fi Mandates adapter.

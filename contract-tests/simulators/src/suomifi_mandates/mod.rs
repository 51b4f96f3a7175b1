//! Suomi.fi Mandates simulator.

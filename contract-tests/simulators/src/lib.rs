//! Simulators of the national services (being written).

//! Kanta social welfare client data archive adapter.

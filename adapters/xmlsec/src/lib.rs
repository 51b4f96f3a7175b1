//! XML signatures through libxmlsec1.

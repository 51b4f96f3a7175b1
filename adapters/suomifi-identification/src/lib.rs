//! Suomi.fi Identification: the SAML 2.0 service provider side.

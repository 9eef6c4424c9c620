//! Certificate generation with rcgen, shared by `examples/gen_certs.rs` (which writes `certs/`)
//! and the TLS tests (which make expired, wrong-host and untrusted certificates at run time).
#![allow(dead_code, unreachable_pub)]

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A certificate and its private key, both PEM.
pub struct Pem {
    pub cert: String,
    pub key: String,
}

/// A certificate authority that can sign leaves.
pub struct Authority {
    pub pem: Pem,
    issuer: Issuer<'static, KeyPair>,
}

/// Validity in calendar years, from the first of January of `from` to that of `to`.
#[derive(Clone, Copy)]
pub struct Validity {
    pub from: i32,
    pub to: i32,
}

/// What `certs/` uses: long enough that the checked-in files do not rot.
pub const LONG: Validity = Validity {
    from: 2025,
    to: 2125,
};
/// Already over.
pub const EXPIRED: Validity = Validity {
    from: 2000,
    to: 2001,
};

fn dates(params: &mut CertificateParams, validity: Validity) {
    params.not_before = rcgen::date_time_ymd(validity.from, 1, 1);
    params.not_after = rcgen::date_time_ymd(validity.to, 1, 1);
}

impl Authority {
    pub fn new(name: &str, validity: Validity) -> Result<Self, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "windlass development");
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
        ];
        dates(&mut params, validity);
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        let pem = Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        };
        Ok(Self {
            pem,
            issuer: Issuer::new(params, key),
        })
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub fn server(&self, names: &[&str], validity: Validity) -> Result<Pem, rcgen::Error> {
        self.leaf(
            names,
            names.first().copied().unwrap_or("server"),
            ExtendedKeyUsagePurpose::ServerAuth,
            validity,
        )
    }

    /// A client certificate with common name `name`.
    pub fn client(&self, name: &str, validity: Validity) -> Result<Pem, rcgen::Error> {
        self.leaf(&[], name, ExtendedKeyUsagePurpose::ClientAuth, validity)
    }

    fn leaf(
        &self,
        names: &[&str],
        common_name: &str,
        usage: ExtendedKeyUsagePurpose,
        validity: Validity,
    ) -> Result<Pem, rcgen::Error> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names)?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "windlass development");
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        dates(&mut params, validity);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    }
}

/// A self-signed server certificate (no CA), for pinning tests.
pub fn self_signed_server(names: &[&str]) -> Result<Pem, rcgen::Error> {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "windlass self-signed");
    dates(&mut params, LONG);
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok(Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

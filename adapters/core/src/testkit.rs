//! Test support other crates' tests share (feature `testkit`): an independent FHIR R4 model
//! check, so that what Portti writes as FHIR is judged by someone else's reading of the standard.

use serde_json::Value;

/// The pip packages that give FHIR R4 (4.0.1) models: fhir.resources 6.2.x is the last line whose default
/// models are R4 4.0.1 (6.4+ is R4B 4.3.0, 7+ R5 with R4B and STU3 subpackages), and it needs pydantic 1.
pub const FHIR_R4_PIP: &str = "fhir.resources==6.2.2 pydantic==1.10.27";

const CHECK_R4: &str = r#"
import json, sys
try:
    import importlib
    import fhir.resources as fr
except ImportError as e:
    print("missing: %s" % e)
    sys.exit(3)
if fr.__fhir_version__ != "4.0.1":
    print("fhir.resources %s models FHIR %s, not R4 4.0.1" % (fr.__version__, fr.__fhir_version__))
    sys.exit(4)
def model(resource_type):
    module = importlib.import_module("fhir.resources." + resource_type.lower())
    return getattr(module, resource_type)

def empties(value, path):
    # FHIR JSON: no null, no empty string, array or object anywhere.
    if value is None or value == "" or value == [] or value == {}:
        yield path
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from empties(v, path + "/" + k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from empties(v, path + "/" + str(i))

def same(a, b):
    # Equal, but a dateTime/instant may come back as +00:00 with microseconds.
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, str) and isinstance(b, str) and a != b:
        from datetime import datetime
        try:
            return datetime.fromisoformat(a.replace("Z", "+00:00")) == datetime.fromisoformat(b.replace("Z", "+00:00"))
        except ValueError:
            return False
    return a == b

for doc in json.load(sys.stdin):
    bad = list(empties(doc, ""))
    if bad:
        print("%s has empty values at %s" % (doc.get("resourceType"), bad))
        sys.exit(5)
    resource = model(doc["resourceType"]).parse_obj(doc)
    back = json.loads(resource.json())
    if not same(doc, back):
        print("%s does not round-trip: %s" % (doc["resourceType"], back))
        sys.exit(5)
print("ok FHIR %s fhir.resources %s" % (fr.__fhir_version__, fr.__version__))
"#;

/// Validates JSON resources with Python's `fhir.resources` R4 models; the interpreter is
/// `FHIR_R4_PYTHON` (e.g. a venv's python) or `python3`.
pub fn check_with_fhir_resources(resources: &[Value]) -> Result<String, String> {
    use std::io::Write;
    let python = std::env::var("FHIR_R4_PYTHON").unwrap_or_else(|_| "python3".into());
    let how_to = format!(
        "install the FHIR R4 models: `pip install {FHIR_R4_PIP}` (or in a venv: \
         `python3 -m venv /tmp/fhir-r4 && /tmp/fhir-r4/bin/pip install {FHIR_R4_PIP}` and \
         FHIR_R4_PYTHON=/tmp/fhir-r4/bin/python)"
    );
    let mut child = std::process::Command::new(&python)
        .args(["-c", CHECK_R4])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {python}: {e}; {how_to}"))?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&serde_json::to_vec(resources).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.code() {
        Some(0) => Ok(text),
        Some(3) | Some(4) => Err(format!("{text}\n{how_to}")),
        _ => Err(text),
    }
}

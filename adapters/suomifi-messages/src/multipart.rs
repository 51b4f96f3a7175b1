//! The `multipart/form-data` body of `POST /v2/attachments`: one `file` part. Built here rather
//! than by reqwest so its exact length is known in advance: the service refuses (413) any request
//! whose HTTP content exceeds 10,485,760 bytes, envelope included.

/// `HTTP content length exceeded 10485760 bytes.`
pub const MAX_UPLOAD_BYTES: usize = 10_485_760;
const BOUNDARY_LEN: usize = 39; // "portti-" + 32 hex digits

/// A file name as a quoted-string of Content-Disposition: `"`, CR and LF percent-encoded (as
/// browsers do); other characters, UTF-8 included, as they are.
fn quoted_file_name(file_name: &str) -> String {
    file_name.replace('"', "%22").replace('\r', "%0D").replace('\n', "%0A")
}

fn head(boundary: &str, file_name: &str, media_type: &str) -> String {
    format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\nContent-Type: {media_type}\r\n\r\n",
        quoted_file_name(file_name)
    )
}

fn tail(boundary: &str) -> String {
    format!("\r\n--{boundary}--\r\n")
}

/// Bytes the envelope adds around a file of this name and media type.
pub fn envelope_len(file_name: &str, media_type: &str) -> usize {
    let boundary = "x".repeat(BOUNDARY_LEN);
    head(&boundary, file_name, media_type).len() + tail(&boundary).len()
}

/// The largest file of this name and media type the service takes.
pub fn max_file_bytes(file_name: &str, media_type: &str) -> usize {
    MAX_UPLOAD_BYTES.saturating_sub(envelope_len(file_name, media_type))
}

/// (`Content-Type` header value, body).
pub fn form_data(
    file_name: &str,
    media_type: &str,
    data: &[u8],
) -> Result<(String, Vec<u8>), openssl::error::ErrorStack> {
    let boundary = loop {
        let mut random = [0u8; 16];
        openssl::rand::rand_bytes(&mut random)?;
        let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let boundary = format!("portti-{hex}");
        if !data.windows(boundary.len()).any(|w| w == boundary.as_bytes()) {
            break boundary;
        }
    };
    debug_assert_eq!(boundary.len(), BOUNDARY_LEN);
    let head = head(&boundary, file_name, media_type);
    let tail = tail(&boundary);
    let mut body = Vec::with_capacity(head.len() + data.len() + tail.len());
    body.extend_from_slice(head.as_bytes());
    body.extend_from_slice(data);
    body.extend_from_slice(tail.as_bytes());
    Ok((format!("multipart/form-data; boundary={boundary}"), body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_one_file_part_of_the_predicted_length() {
        let (content_type, body) = form_data("Päätös \"1\".pdf", "application/pdf", b"%PDF-1.7").unwrap();
        let boundary = content_type.strip_prefix("multipart/form-data; boundary=").unwrap();
        assert_eq!(boundary.len(), BOUNDARY_LEN);
        let text = String::from_utf8(body.clone()).unwrap();
        assert_eq!(
            text,
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"Päätös %221%22.pdf\"\r\n\
                 Content-Type: application/pdf\r\n\r\n%PDF-1.7\r\n--{boundary}--\r\n"
            )
        );
        assert_eq!(body.len(), 8 + envelope_len("Päätös \"1\".pdf", "application/pdf"));
        assert!(max_file_bytes("a.pdf", "application/pdf") < MAX_UPLOAD_BYTES);
        assert!(max_file_bytes("a.pdf", "application/pdf") > MAX_UPLOAD_BYTES - 300);
    }
}

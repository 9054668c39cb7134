//! RFC 6455 framing for the live channel, written for fan-out.
//!
//! A server's frames are not masked, so an event's frame is the same bytes
//! for every client: it is framed once ([`text`]) and every socket writes
//! that shared buffer, instead of each socket's WebSocket library copying
//! the event into its own write buffer (which also cost each socket a
//! buffer as large as its largest frame). Clients' frames are masked and
//! are read by [`Decoder`], which holds nothing while a socket is idle.
//!
//! Only what this channel needs: no extensions (a frame with a reserved bit
//! is a protocol error), no subprotocol, fragmented messages reassembled up
//! to a size limit.

use bytes::{BufMut, Bytes, BytesMut};

/// Frame types (RFC 6455 §5.2).
pub mod opcode {
    pub const CONTINUATION: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xA;
}

/// Close codes of RFC 6455 §7.4.1 that the reader answers with.
pub mod code {
    pub const NORMAL: u16 = 1000;
    pub const PROTOCOL: u16 = 1002;
    pub const NOT_UTF8: u16 = 1007;
    pub const TOO_BIG: u16 = 1009;
}

/// One whole, unmasked server frame: header and payload.
pub fn encode(opcode: u8, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(header_len(payload.len()) + payload.len());
    put_header(&mut out, opcode, payload.len());
    out.extend_from_slice(payload);
    out.freeze()
}

/// A text frame carrying `json`.
pub fn text(json: &str) -> Bytes {
    encode(opcode::TEXT, json.as_bytes())
}

/// A close frame with a status code and a reason (cut to fit a control frame).
pub fn close(code: u16, reason: &str) -> Bytes {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    encode(opcode::CLOSE, &payload)
}

/// How many bytes the header of a frame of `len` bytes takes.
pub fn header_len(len: usize) -> usize {
    match len {
        0..=125 => 2,
        126..=0xFFFF => 4,
        _ => 10,
    }
}

fn put_header(out: &mut BytesMut, opcode: u8, len: usize) {
    out.put_u8(0x80 | opcode);
    match len {
        0..=125 => out.put_u8(len as u8),
        126..=0xFFFF => {
            out.put_u8(126);
            out.put_u16(len as u16);
        }
        _ => {
            out.put_u8(127);
            out.put_u64(len as u64);
        }
    }
}

/// A whole message from a client.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    Text(String),
    Binary,
    Ping(Vec<u8>),
    Pong,
    /// The client closes, with its status code if it gave one.
    Close(Option<u16>),
}

/// Why a client's bytes are refused; each has its close code.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("messages are limited to {0} KiB")]
    TooBig(usize),
    #[error("not a valid WebSocket frame: {0}")]
    Protocol(&'static str),
    #[error("a text message must be UTF-8")]
    NotUtf8,
}

impl ReadError {
    pub fn close_code(&self) -> u16 {
        match self {
            ReadError::TooBig(_) => code::TOO_BIG,
            ReadError::Protocol(_) => code::PROTOCOL,
            ReadError::NotUtf8 => code::NOT_UTF8,
        }
    }
}

/// Reads clients' frames from the bytes a socket received.
///
/// Holds no allocation while idle: bytes are kept only while a frame is
/// incomplete, and a buffer grown by a large message is let go after it.
#[derive(Default)]
pub struct Decoder {
    /// Received bytes not yet part of a whole frame.
    pending: Vec<u8>,
    /// The fragments of a message in progress, and its opcode.
    message: Vec<u8>,
    message_opcode: Option<u8>,
}

/// Buffers larger than this are freed once empty, so one big message does
/// not cost its socket that much memory for as long as it stays open.
const KEEP_CAPACITY: usize = 4096;

impl Decoder {
    /// Appends bytes read from the socket.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// The next whole message, `None` when more bytes are needed. `max` is
    /// the largest message (all fragments together) a client may send; a
    /// longer one is refused from its header, before its payload is read.
    pub fn next(&mut self, max: usize) -> Result<Option<Incoming>, ReadError> {
        loop {
            let Some((fin, op, header, len)) = self.header(max)? else {
                self.release();
                return Ok(None);
            };
            if self.pending.len() < header + len {
                return Ok(None);
            }
            let mask = [
                self.pending[header - 4],
                self.pending[header - 3],
                self.pending[header - 2],
                self.pending[header - 1],
            ];
            let payload = &mut self.pending[header..header + len];
            for (i, byte) in payload.iter_mut().enumerate() {
                *byte ^= mask[i & 3];
            }
            if matches!(op, opcode::TEXT | opcode::BINARY) {
                self.message_opcode = Some(op);
            }
            let incoming = match op {
                opcode::PING => Some(Incoming::Ping(payload.to_vec())),
                opcode::PONG => Some(Incoming::Pong),
                opcode::CLOSE => Some(Incoming::Close(
                    (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]])),
                )),
                _ => {
                    self.message.extend_from_slice(payload);
                    if fin {
                        let whole = std::mem::take(&mut self.message);
                        match self.message_opcode.take() {
                            Some(opcode::TEXT) => Some(Incoming::Text(
                                String::from_utf8(whole).map_err(|_| ReadError::NotUtf8)?,
                            )),
                            _ => Some(Incoming::Binary),
                        }
                    } else {
                        None
                    }
                }
            };
            self.pending.drain(..header + len);
            if let Some(incoming) = incoming {
                self.release();
                return Ok(Some(incoming));
            }
        }
    }

    /// Parses the next frame's header: (fin, opcode, header length, payload
    /// length), or `None` when it is not all there yet. Checks the frame
    /// against the protocol and the size limit.
    fn header(&self, max: usize) -> Result<Option<(bool, u8, usize, usize)>, ReadError> {
        let bytes = &self.pending;
        if bytes.len() < 2 {
            return Ok(None);
        }
        let fin = bytes[0] & 0x80 != 0;
        if bytes[0] & 0x70 != 0 {
            return Err(ReadError::Protocol("reserved bits set"));
        }
        let op = bytes[0] & 0x0F;
        if bytes[1] & 0x80 == 0 {
            return Err(ReadError::Protocol("a client's frames must be masked"));
        }
        let (len, at) = match bytes[1] & 0x7F {
            126 => {
                if bytes.len() < 4 {
                    return Ok(None);
                }
                (u16::from_be_bytes([bytes[2], bytes[3]]) as u64, 4)
            }
            127 => {
                if bytes.len() < 10 {
                    return Ok(None);
                }
                let mut len = [0u8; 8];
                len.copy_from_slice(&bytes[2..10]);
                (u64::from_be_bytes(len), 10)
            }
            short => (short as u64, 2),
        };
        match op {
            opcode::CLOSE | opcode::PING | opcode::PONG => {
                if !fin || len > 125 {
                    return Err(ReadError::Protocol(
                        "control frames are whole and at most 125 bytes",
                    ));
                }
            }
            opcode::TEXT | opcode::BINARY | opcode::CONTINUATION => {
                match (op, self.message_opcode) {
                    (opcode::CONTINUATION, None) => {
                        return Err(ReadError::Protocol("a continuation without a message"));
                    }
                    (opcode::TEXT | opcode::BINARY, Some(_)) => {
                        return Err(ReadError::Protocol("a new message inside a fragmented one"));
                    }
                    _ => {}
                }
                if (self.message.len() as u64).saturating_add(len) > max as u64 {
                    return Err(ReadError::TooBig(max / 1024));
                }
            }
            _ => return Err(ReadError::Protocol("unknown opcode")),
        }
        if bytes.len() < at + 4 {
            return Ok(None);
        }
        Ok(Some((fin, op, at + 4, len as usize)))
    }

    /// Frees buffers a large message grew, once they are empty.
    fn release(&mut self) {
        if self.pending.is_empty() && self.pending.capacity() > KEEP_CAPACITY {
            self.pending = Vec::new();
        }
        if self.message.is_empty() && self.message.capacity() > KEEP_CAPACITY {
            self.message = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's frame: masked with `mask`.
    fn client_frame(fin: bool, op: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut out = vec![if fin { 0x80 } else { 0 } | op];
        match payload.len() {
            0..=125 => out.push(0x80 | payload.len() as u8),
            126..=0xFFFF => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
            }
            _ => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(payload.len() as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
        out
    }

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    #[test]
    fn server_frames_use_the_shortest_length_form() {
        // RFC 6455 §5.7: an unmasked "Hello".
        assert_eq!(&text("Hello")[..], b"\x81\x05Hello");
        let medium = text(&"a".repeat(300));
        assert_eq!(&medium[..4], &[0x81, 126, 0x01, 0x2c]);
        assert_eq!(medium.len(), 304);
        let large = encode(opcode::BINARY, &vec![0u8; 70_000]);
        assert_eq!(&large[..2], &[0x82, 127]);
        assert_eq!(u64::from_be_bytes(large[2..10].try_into().unwrap()), 70_000);
        for len in [0, 125, 126, 65_535, 65_536] {
            assert_eq!(
                header_len(len) + len,
                encode(opcode::TEXT, &vec![b'x'; len]).len()
            );
        }
    }

    #[test]
    fn a_close_reason_is_cut_to_fit_a_control_frame_on_a_char_boundary() {
        let frame = close(4401, &"é".repeat(100));
        assert!(frame.len() <= 2 + 125);
        assert_eq!(&frame[2..4], &4401u16.to_be_bytes());
        assert!(std::str::from_utf8(&frame[4..]).is_ok());
    }

    #[test]
    fn masked_frames_are_read_whatever_way_the_bytes_arrive() {
        // RFC 6455 §5.7: a masked "Hello".
        let mut bytes = vec![
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        bytes.extend(client_frame(true, opcode::PING, b"hi", MASK));
        bytes.extend(client_frame(
            true,
            opcode::TEXT,
            "ü".repeat(200).as_bytes(),
            MASK,
        ));
        let mut decoder = Decoder::default();
        let mut got = Vec::new();
        // One byte at a time: every partial header and payload is waited for.
        for byte in bytes {
            decoder.extend(&[byte]);
            while let Some(message) = decoder.next(1024).unwrap() {
                got.push(message);
            }
        }
        assert_eq!(
            got,
            vec![
                Incoming::Text("Hello".into()),
                Incoming::Ping(b"hi".to_vec()),
                Incoming::Text("ü".repeat(200)),
            ]
        );
        assert!(decoder.pending.is_empty());
    }

    #[test]
    fn fragments_are_joined_around_control_frames() {
        let mut decoder = Decoder::default();
        decoder.extend(&client_frame(false, opcode::TEXT, b"{\"type\":", MASK));
        decoder.extend(&client_frame(true, opcode::PONG, b"", MASK));
        decoder.extend(&client_frame(
            true,
            opcode::CONTINUATION,
            b"\"ping\"}",
            MASK,
        ));
        assert_eq!(decoder.next(1024).unwrap(), Some(Incoming::Pong));
        assert_eq!(
            decoder.next(1024).unwrap(),
            Some(Incoming::Text("{\"type\":\"ping\"}".into()))
        );
        assert_eq!(decoder.next(1024).unwrap(), None);
    }

    #[test]
    fn a_close_carries_its_code() {
        let mut decoder = Decoder::default();
        decoder.extend(&client_frame(
            true,
            opcode::CLOSE,
            &1001u16.to_be_bytes(),
            MASK,
        ));
        decoder.extend(&client_frame(true, opcode::CLOSE, b"", MASK));
        assert_eq!(decoder.next(10).unwrap(), Some(Incoming::Close(Some(1001))));
        assert_eq!(decoder.next(10).unwrap(), Some(Incoming::Close(None)));
    }

    #[test]
    fn a_message_over_the_limit_is_refused_from_its_header() {
        let mut decoder = Decoder::default();
        // Only the header of a 1 MiB frame: refused before its payload comes.
        let frame = client_frame(true, opcode::TEXT, &vec![b'a'; 1 << 20], MASK);
        decoder.extend(&frame[..14]);
        assert_eq!(decoder.next(256 * 1024), Err(ReadError::TooBig(256)));
        assert_eq!(ReadError::TooBig(256).close_code(), 1009);
        // Fragments count together.
        let mut decoder = Decoder::default();
        decoder.extend(&client_frame(false, opcode::TEXT, &[b'a'; 600], MASK));
        decoder.extend(&client_frame(
            true,
            opcode::CONTINUATION,
            &[b'a'; 600],
            MASK,
        ));
        assert_eq!(decoder.next(1000), Err(ReadError::TooBig(0)));
    }

    #[test]
    fn protocol_violations_are_named() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            // Not masked.
            (vec![0x81, 0x01, b'a'], "masked"),
            // A reserved bit (no extension was agreed).
            (
                client_frame(true, 0x40 | opcode::TEXT, b"a", MASK),
                "reserved",
            ),
            (client_frame(true, 0x3, b"a", MASK), "opcode"),
            (
                client_frame(true, opcode::CONTINUATION, b"a", MASK),
                "continuation",
            ),
            (client_frame(false, opcode::PING, b"a", MASK), "control"),
            (client_frame(true, opcode::PING, &[0; 126], MASK), "control"),
            (
                [
                    client_frame(false, opcode::TEXT, b"a", MASK),
                    client_frame(true, opcode::TEXT, b"b", MASK),
                ]
                .concat(),
                "inside",
            ),
        ];
        for (bytes, why) in cases {
            let mut decoder = Decoder::default();
            decoder.extend(&bytes);
            let error = loop {
                match decoder.next(1024) {
                    Err(e) => break e,
                    Ok(Some(_)) => continue,
                    Ok(None) => panic!("{bytes:?} was accepted"),
                }
            };
            assert_eq!(error.close_code(), code::PROTOCOL, "{bytes:?}");
            assert!(error.to_string().contains(why), "{error} should say {why}");
        }
        let mut decoder = Decoder::default();
        decoder.extend(&client_frame(true, opcode::TEXT, &[0xff, 0xfe], MASK));
        assert_eq!(decoder.next(1024), Err(ReadError::NotUtf8));
    }

    #[test]
    fn a_large_message_does_not_keep_its_buffer() {
        let mut decoder = Decoder::default();
        decoder.extend(&client_frame(
            true,
            opcode::TEXT,
            &vec![b'a'; 100_000],
            MASK,
        ));
        assert!(
            matches!(decoder.next(256 * 1024), Ok(Some(Incoming::Text(t))) if t.len() == 100_000)
        );
        assert_eq!(decoder.pending.capacity(), 0);
        assert_eq!(decoder.message.capacity(), 0);
    }
}

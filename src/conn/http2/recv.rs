//! What the connection does with each frame the client sends.

use std::time::Duration;

use bytes::Bytes;
use http::Request;
use tokio::time::Instant;

use super::{
    request::{self, RequestHead},
    request_body::{BodyError, RequestBody, Shared},
    streams::Stream,
    Conn, Http2Error,
};
use crate::h2wire::{
    frame::{self, ErrorCode, Frame, Settings},
    hpack::DecodeError,
};

/// CONTINUATION frames one header block may take: nghttp2's default. Browsers send one or
/// two, and the largest block accepted (four times the header list limit) fits in four at
/// the default frame size; a client that sends endless small ones (the CONTINUATION flood)
/// is told to calm down at once. With 64 it was told only after its second write, and
/// every attacking connection had pushed five times as many frames by the time it was
/// closed (the attack bench: 10,000 against h2's 1,900).
const CONTINUATIONS_MAX: usize = 8;

/// A connection error: GOAWAY with the code, and why (for the log).
pub(super) type ConnError = (ErrorCode, &'static str);

/// Requests a client may cancel before the connection even dispatched them, per second,
/// before the connection is closed with GOAWAY(ENHANCE_YOUR_CALM): the rapid-reset attack
/// (CVE-2023-44487). A browser cancels streams it has had for a while, not ones it has just
/// sent. (At 100, attackers got five times as many requests read before the GOAWAY, and a
/// canary's p99 doubled under the attack.)
const EARLY_RESETS_PER_SECOND: u32 = 20;

/// Requests the client cancelled before the connection dispatched them, in the current
/// second.
#[derive(Default)]
pub(super) struct EarlyResets {
    since: Option<Instant>,
    count: u32,
}

impl EarlyResets {
    /// Counts one; false once the client is over [`EARLY_RESETS_PER_SECOND`].
    pub fn count(&mut self) -> bool {
        let now = Instant::now();
        match self.since {
            Some(since) if now.duration_since(since) < Duration::from_secs(1) => {}
            _ => {
                self.since = Some(now);
                self.count = 0;
            }
        }
        self.count += 1;
        self.count <= EARLY_RESETS_PER_SECOND
    }
}

/// A header block being received: HEADERS, then CONTINUATION frames until END_HEADERS.
pub(super) struct Block {
    id: u32,
    end_stream: bool,
    /// Trailers of an open request, not a new request.
    trailers: bool,
    /// Decoded only to keep the compression state: its stream was reset.
    ignore: bool,
    fragments: Vec<u8>,
    continuations: usize,
}

impl Conn {
    /// Handles one frame; Err ends the connection.
    pub(super) fn on_frame(&mut self, frame: Frame) -> Result<(), ConnError> {
        if !self.got_settings && !matches!(frame, Frame::Settings(_)) {
            return Err((ErrorCode::PROTOCOL_ERROR, "the first frame is not SETTINGS"));
        }
        if self.block.is_some() && !matches!(frame, Frame::Continuation { .. }) {
            return Err((
                ErrorCode::PROTOCOL_ERROR,
                "a frame in the middle of a header block",
            ));
        }
        match frame {
            Frame::Settings(settings) => self.on_settings(settings)?,
            Frame::SettingsAck => self.settings_acked = true,
            Frame::Ping {
                ack: false,
                payload,
            } => frame::write_ping(&mut self.out, true, payload),
            Frame::Ping { ack: true, payload } => {
                if let Some(keepalive) = &mut self.keepalive {
                    keepalive.pong(payload);
                }
            }
            Frame::GoAway { code, .. } => {
                if code != ErrorCode::NO_ERROR {
                    tracing::debug!(%code, "the client sent GOAWAY with an error");
                }
                self.peer_goaway = true;
                self.accepting = false;
            }
            Frame::WindowUpdate {
                stream_id: 0,
                increment,
            } => {
                self.send_window += i64::from(increment);
                if self.send_window > i64::from(frame::MAX_WINDOW) {
                    return Err((ErrorCode::FLOW_CONTROL_ERROR, "connection window overflow"));
                }
                self.streams.wake_blocked();
            }
            Frame::WindowUpdate {
                stream_id,
                increment,
            } => {
                self.check_not_idle(stream_id)?;
                if let Some(key) = self.streams.key(stream_id) {
                    let overflow = self.streams.get_mut(key).is_some_and(|stream| {
                        stream.send_window += i64::from(increment);
                        stream.send_window > i64::from(frame::MAX_WINDOW)
                    });
                    if overflow {
                        self.reset(stream_id, ErrorCode::FLOW_CONTROL_ERROR);
                    } else {
                        self.streams.wake(key);
                    }
                }
            }
            Frame::RstStream { stream_id, .. } => {
                self.check_not_idle(stream_id)?;
                let pending = self.new_requests.len();
                self.new_requests.retain(|(_, id, _)| *id != stream_id);
                if self.new_requests.len() < pending && !self.early_resets.count() {
                    return Err((
                        ErrorCode::ENHANCE_YOUR_CALM,
                        "requests cancelled as they are sent",
                    ));
                }
                if let Some(key) = self.streams.key(stream_id) {
                    self.streams.remove(key);
                }
            }
            Frame::Priority { .. } | Frame::Unknown { .. } => {}
            Frame::PushPromise { .. } => {
                return Err((ErrorCode::PROTOCOL_ERROR, "a client sent PUSH_PROMISE"))
            }
            Frame::Headers {
                stream_id,
                end_stream,
                end_headers,
                fragment,
                ..
            } => self.on_headers(stream_id, end_stream, end_headers, fragment)?,
            Frame::Continuation {
                stream_id,
                end_headers,
                fragment,
            } => {
                let Some(block) = &mut self.block else {
                    return Err((ErrorCode::PROTOCOL_ERROR, "CONTINUATION without HEADERS"));
                };
                if block.id != stream_id {
                    return Err((ErrorCode::PROTOCOL_ERROR, "CONTINUATION of another stream"));
                }
                block.continuations += 1;
                block.fragments.extend_from_slice(&fragment);
                self.check_block_size()?;
                if end_headers {
                    self.finish_block()?;
                }
            }
            Frame::Data {
                stream_id,
                end_stream,
                data,
                flow_len,
            } => self.on_data(stream_id, end_stream, data, flow_len)?,
        }
        Ok(())
    }

    fn on_settings(&mut self, settings: Settings) -> Result<(), ConnError> {
        self.got_settings = true;
        if let Some(size) = settings.header_table_size {
            self.encoder.set_max_table_size(size);
        }
        if let Some(size) = settings.max_frame_size {
            self.peer_max_frame_size = size;
        }
        if let Some(window) = settings.initial_window_size {
            let delta = i64::from(window) - i64::from(self.peer_initial_window);
            self.peer_initial_window = window;
            for key in self.streams.keys() {
                let Some(stream) = self.streams.get_mut(key) else {
                    continue;
                };
                stream.send_window += delta;
                if stream.send_window > i64::from(frame::MAX_WINDOW) {
                    return Err((ErrorCode::FLOW_CONTROL_ERROR, "stream window overflow"));
                }
                if delta > 0 {
                    self.streams.wake(key);
                }
            }
        }
        frame::write_settings_ack(&mut self.out);
        Ok(())
    }

    /// A frame for a stream the client has not opened yet is a protocol error.
    fn check_not_idle(&self, id: u32) -> Result<(), ConnError> {
        if id > self.last_id && self.block.as_ref().is_none_or(|b| b.id != id) {
            return Err((ErrorCode::PROTOCOL_ERROR, "a frame for an idle stream"));
        }
        Ok(())
    }

    fn on_headers(
        &mut self,
        id: u32,
        end_stream: bool,
        end_headers: bool,
        fragment: Bytes,
    ) -> Result<(), ConnError> {
        if id.is_multiple_of(2) {
            return Err((ErrorCode::PROTOCOL_ERROR, "a client stream with an even id"));
        }
        let (trailers, ignore) = if id > self.last_id {
            (false, false)
        } else {
            match self.streams.by_id(id) {
                Some(stream) if stream.request.is_some() => (true, false),
                Some(_) => {
                    // The request was complete: no more HEADERS on it. Its block is still
                    // decoded (the compression state is the connection's).
                    self.reset(id, ErrorCode::STREAM_CLOSED);
                    (true, true)
                }
                None => return Err((ErrorCode::STREAM_CLOSED, "HEADERS on a closed stream")),
            }
        };
        self.block = Some(Block {
            id,
            end_stream,
            trailers,
            ignore,
            fragments: fragment.to_vec(),
            continuations: 0,
        });
        self.check_block_size()?;
        if end_headers {
            self.finish_block()?;
        }
        Ok(())
    }

    /// A header block is bounded in bytes and in frames. Up to four times the list limit it
    /// is decoded and, if its list is over the limit, answered `431` (compressed, a block
    /// larger than the limit cannot hold a list under it); beyond, or in more frames than
    /// any client needs, it is a flood.
    fn check_block_size(&self) -> Result<(), ConnError> {
        let Some(block) = &self.block else {
            return Ok(());
        };
        let bound = (self.config.max_header_list_size as usize)
            .max(frame::DEFAULT_MAX_FRAME_SIZE as usize)
            * 4;
        if block.fragments.len() > bound || block.continuations > CONTINUATIONS_MAX {
            return Err((ErrorCode::ENHANCE_YOUR_CALM, "a header block too large"));
        }
        Ok(())
    }

    /// Decodes a complete header block: a new request, or an open one's trailers.
    fn finish_block(&mut self) -> Result<(), ConnError> {
        let Some(block) = self.block.take() else {
            return Ok(());
        };
        let max_list = self.config.max_header_list_size as usize;
        if block.trailers {
            let mut fields = Vec::new();
            let decoded = self
                .decoder
                .decode(&block.fragments, max_list, |name, value| {
                    fields.push((name.to_vec(), value.to_vec()));
                });
            self.check_decoded(&decoded)?;
            if block.ignore {
                return Ok(());
            }
            if !block.end_stream || decoded.is_err() {
                self.reset(block.id, ErrorCode::PROTOCOL_ERROR);
                return Ok(());
            }
            match request::trailers(fields) {
                Ok(trailers) => self.end_request(block.id, Some(trailers)),
                Err(e) => {
                    tracing::debug!(stream = block.id, error = %e, "malformed trailers");
                    self.reset(block.id, ErrorCode::PROTOCOL_ERROR);
                }
            }
            return Ok(());
        }
        let mut head = RequestHead::default();
        let decoded = self
            .decoder
            .decode(&block.fragments, max_list, |name, value| {
                head.field(name, value)
            });
        self.check_decoded(&decoded)?;
        let id = block.id;
        self.last_id = id;
        if !self.accepting {
            // GOAWAY named an earlier last stream: not processed, the client may retry.
            self.reset(id, ErrorCode::REFUSED_STREAM);
            return Ok(());
        }
        if self.streams.len() >= self.config.max_concurrent_streams as usize {
            self.reset(id, ErrorCode::REFUSED_STREAM);
            return Ok(());
        }
        if decoded.is_err() {
            // Over SETTINGS_MAX_HEADER_LIST_SIZE: answered, as hyper does.
            self.refuse_large_headers(id, block.end_stream);
            return Ok(());
        }
        let (parts, content_length) = match head.finish() {
            Ok(head) => head,
            Err(e) => {
                tracing::debug!(stream = id, error = %e, "malformed request");
                self.reset(id, ErrorCode::PROTOCOL_ERROR);
                return Ok(());
            }
        };
        if block.end_stream && content_length.is_some_and(|length| length > 0) {
            self.reset(id, ErrorCode::PROTOCOL_ERROR);
            return Ok(());
        }
        let recv_window = if self.settings_acked {
            self.config.initial_stream_window
        } else {
            // The client may not have applied our SETTINGS yet.
            self.config.initial_stream_window.max(frame::DEFAULT_WINDOW)
        };
        let mut stream = Stream::new(id, self.peer_initial_window, recv_window);
        let key = self.streams.next_key();
        let body = if block.end_stream {
            RequestBody::empty()
        } else {
            let shared = Shared::new(key, id, self.credits.clone());
            stream.request = Some(shared.clone());
            stream.content_left = content_length;
            RequestBody::new(shared, content_length)
        };
        self.streams.insert(stream);
        self.new_requests
            .push((key, id, Request::from_parts(parts, body)));
        Ok(())
    }

    /// A decoding error other than a list over the limit ends the connection (the
    /// compression state is lost).
    fn check_decoded(&self, decoded: &Result<(), DecodeError>) -> Result<(), ConnError> {
        match decoded {
            Err(e) if e.is_compression_error() => {
                tracing::debug!(error = %e, "header block cannot be decoded");
                Err((
                    ErrorCode::COMPRESSION_ERROR,
                    "a header block cannot be decoded",
                ))
            }
            _ => Ok(()),
        }
    }

    /// Answers `431` to a request whose header list is over the limit.
    fn refuse_large_headers(&mut self, id: u32, end_stream: bool) {
        let mut block = Vec::new();
        self.encoder.encode(
            [(&b":status"[..], &b"431"[..]), (b"content-length", b"0")],
            &mut block,
        );
        frame::write_headers(&mut self.out, id, &block, true, self.peer_max_frame_size);
        if !end_stream {
            // Nothing of its body is wanted.
            frame::write_rst_stream(&mut self.out, id, ErrorCode::NO_ERROR);
        }
    }

    fn on_data(
        &mut self,
        id: u32,
        end_stream: bool,
        data: Bytes,
        flow_len: u32,
    ) -> Result<(), ConnError> {
        self.recv_window -= i64::from(flow_len);
        if self.recv_window < 0 {
            return Err((ErrorCode::FLOW_CONTROL_ERROR, "connection window exceeded"));
        }
        self.check_not_idle(id)?;
        let padding = flow_len - data.len() as u32;
        let Some(key) = self.streams.key(id) else {
            // A stream reset or finished meanwhile: its data is dropped, its window given.
            self.recv_owed = self.recv_owed.saturating_add(flow_len);
            return Ok(());
        };
        let Some(stream) = self.streams.get_mut(key) else {
            return Ok(());
        };
        let Some(body) = stream.request.clone() else {
            self.recv_owed = self.recv_owed.saturating_add(flow_len);
            self.reset(id, ErrorCode::STREAM_CLOSED);
            return Ok(());
        };
        stream.recv_window -= i64::from(flow_len);
        if stream.recv_window < 0 {
            self.recv_owed = self.recv_owed.saturating_add(flow_len);
            body.finish(Err(BodyError::Cut));
            self.reset(id, ErrorCode::FLOW_CONTROL_ERROR);
            return Ok(());
        }
        let len = data.len() as u64;
        if let Some(left) = &mut stream.content_left {
            if len > *left || (end_stream && len != *left) {
                body.finish(Err(BodyError::LengthMismatch));
                self.recv_owed = self.recv_owed.saturating_add(flow_len);
                self.reset(id, ErrorCode::PROTOCOL_ERROR);
                return Ok(());
            }
            *left -= len;
        }
        // Padding is nobody's to read: its window goes back at once.
        self.recv_owed = self.recv_owed.saturating_add(padding);
        stream.recv_window += i64::from(padding);
        if !body.push(data) {
            // The reader left: the data goes, and its window with it.
            self.recv_owed = self.recv_owed.saturating_add(flow_len - padding);
            stream.recv_window += i64::from(flow_len - padding);
        }
        if end_stream {
            self.end_request(id, None);
        }
        Ok(())
    }

    /// The request body ended (END_STREAM), with trailers or not.
    fn end_request(&mut self, id: u32, trailers: Option<http::HeaderMap>) {
        let Some(key) = self.streams.key(id) else {
            return;
        };
        let Some(stream) = self.streams.get_mut(key) else {
            return;
        };
        if let Some(body) = stream.request.take() {
            if stream.content_left.is_some_and(|left| left > 0) {
                body.finish(Err(BodyError::LengthMismatch));
                self.reset(id, ErrorCode::PROTOCOL_ERROR);
                return;
            }
            body.finish(Ok(trailers));
        }
        self.streams.remove_if_closed(key);
    }
}

impl From<ConnError> for Http2Error {
    fn from((code, reason): ConnError) -> Self {
        Http2Error::Protocol { code, reason }
    }
}

use tokio::{
    io::AsyncWriteExt,
    net::{TcpListener, TcpStream},
};

use super::*;

const DEADLINE: Duration = Duration::from_secs(5);

/// What the next layer would read: it must survive the header read untouched.
const PAYLOAD: &[u8] = b"\x16\x03\x01\x00\x05hello after the header";

/// A connected pair over loopback: (client, server).
async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    (client.unwrap(), accepted.unwrap().0)
}

/// Sends `header` and [`PAYLOAD`] in one write, reads the header, and checks that the
/// payload is still there, whole.
async fn read_with_payload(header: &[u8]) -> Result<ProxyHeader, ProxyProtocolError> {
    let (mut client, mut server) = pair().await;
    let mut bytes = header.to_vec();
    bytes.extend_from_slice(PAYLOAD);
    client.write_all(&bytes).await.unwrap();
    let result = read_header(&mut server, DEADLINE).await;
    if result.is_ok() {
        assert_payload_follows(&mut server, &mut client).await;
    }
    result
}

async fn assert_payload_follows(server: &mut TcpStream, client: &mut TcpStream) {
    client.shutdown().await.unwrap();
    let mut rest = Vec::new();
    server.read_to_end(&mut rest).await.unwrap();
    assert_eq!(rest, PAYLOAD);
}

fn v2(command: u8, fam_proto: u8, block: &[u8]) -> Vec<u8> {
    let mut bytes = V2_SIGNATURE.to_vec();
    bytes.push(0x20 | command);
    bytes.push(fam_proto);
    bytes.extend_from_slice(&u16::try_from(block.len()).unwrap().to_be_bytes());
    bytes.extend_from_slice(block);
    bytes
}

fn v2_inet_block(tlvs: &[u8]) -> Vec<u8> {
    let mut block = vec![192, 0, 2, 7, 10, 0, 0, 1];
    block.extend_from_slice(&51234u16.to_be_bytes());
    block.extend_from_slice(&443u16.to_be_bytes());
    block.extend_from_slice(tlvs);
    block
}

/// A PP2_TYPE_AUTHORITY TLV and a PP2_TYPE_NOOP TLV.
const TLVS: &[u8] = b"\x02\x00\x0bexample.com\x04\x00\x03\x00\x00\x00";

#[tokio::test]
async fn v1_tcp4_names_the_client_and_leaves_the_payload() {
    let header = read_with_payload(b"PROXY TCP4 192.0.2.7 10.0.0.1 51234 443\r\n")
        .await
        .unwrap();
    assert_eq!(
        header,
        ProxyHeader::Proxied {
            source: "192.0.2.7:51234".parse().unwrap(),
            destination: "10.0.0.1:443".parse().unwrap(),
        }
    );
}

#[tokio::test]
async fn v1_tcp6_names_the_client() {
    let header = read_with_payload(b"PROXY TCP6 2001:db8::7 2001:db8::1 51234 443\r\n")
        .await
        .unwrap();
    assert_eq!(
        header,
        ProxyHeader::Proxied {
            source: "[2001:db8::7]:51234".parse().unwrap(),
            destination: "[2001:db8::1]:443".parse().unwrap(),
        }
    );
}

#[tokio::test]
async fn v1_unknown_is_unknown_whatever_follows_it() {
    let bare = read_with_payload(b"PROXY UNKNOWN\r\n").await.unwrap();
    assert_eq!(bare, ProxyHeader::Unknown);
    let with_rest = read_with_payload(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n")
        .await
        .unwrap();
    assert_eq!(with_rest, ProxyHeader::Unknown);
}

#[tokio::test]
async fn v1_of_the_maximum_length_is_accepted() {
    const FULL: &str = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    // The specification's worst case is UNKNOWN with full IPv6 addresses: 107 bytes.
    let unknown = format!("PROXY UNKNOWN {FULL} {FULL} 65535 65535\r\n");
    assert_eq!(unknown.len(), V1_MAX_LEN);
    let header = read_with_payload(unknown.as_bytes()).await.unwrap();
    assert_eq!(header, ProxyHeader::Unknown);
    let tcp6 = format!("PROXY TCP6 {FULL} {FULL} 65535 65535\r\n");
    let header = read_with_payload(tcp6.as_bytes()).await.unwrap();
    assert!(matches!(header, ProxyHeader::Proxied { .. }));
}

#[tokio::test]
async fn v1_with_a_bad_port_is_malformed() {
    for line in [
        &b"PROXY TCP4 192.0.2.7 10.0.0.1 99999 443\r\n"[..],
        b"PROXY TCP4 192.0.2.7 10.0.0.1 +5 443\r\n",
        b"PROXY TCP4 192.0.2.7 10.0.0.1 5 \r\n",
    ] {
        let err = read_with_payload(line).await.unwrap_err();
        assert!(matches!(err, ProxyProtocolError::Malformed(_)), "{err:?}");
    }
}

#[tokio::test]
async fn v1_with_a_mismatched_family_or_field_count_is_malformed() {
    for line in [
        &b"PROXY TCP4 2001:db8::7 10.0.0.1 1 2\r\n"[..],
        b"PROXY TCP6 192.0.2.7 2001:db8::1 1 2\r\n",
        b"PROXY TCP4 192.0.2.7 10.0.0.1 1\r\n",
        b"PROXY TCP4 192.0.2.7 10.0.0.1 1 2 3\r\n",
        b"PROXY TCP4  192.0.2.7 10.0.0.1 1 2\r\n",
        b"PROXY UDP4 192.0.2.7 10.0.0.1 1 2\r\n",
        b"PROXY TCP4 192.0.2.7 10.0.0.1 1 2\n",
    ] {
        let err = read_with_payload(line).await.unwrap_err();
        assert!(matches!(err, ProxyProtocolError::Malformed(_)), "{err:?}");
    }
}

#[tokio::test]
async fn v1_without_crlf_within_107_bytes_is_malformed() {
    let mut line = b"PROXY TCP4 ".to_vec();
    line.resize(200, b'1');
    let err = read_with_payload(&line).await.unwrap_err();
    assert!(matches!(err, ProxyProtocolError::Malformed(_)), "{err:?}");
}

#[tokio::test]
async fn v2_proxy_ipv4_with_tlvs_names_the_client() {
    let header = read_with_payload(&v2(V2_CMD_PROXY, 0x11, &v2_inet_block(TLVS)))
        .await
        .unwrap();
    assert_eq!(
        header,
        ProxyHeader::Proxied {
            source: "192.0.2.7:51234".parse().unwrap(),
            destination: "10.0.0.1:443".parse().unwrap(),
        }
    );
}

#[tokio::test]
async fn v2_proxy_ipv6_with_tlvs_names_the_client() {
    let src: Ipv6Addr = "2001:db8::7".parse().unwrap();
    let dst: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let mut block = src.octets().to_vec();
    block.extend_from_slice(&dst.octets());
    block.extend_from_slice(&51234u16.to_be_bytes());
    block.extend_from_slice(&443u16.to_be_bytes());
    block.extend_from_slice(TLVS);
    let header = read_with_payload(&v2(V2_CMD_PROXY, 0x21, &block))
        .await
        .unwrap();
    assert_eq!(
        header,
        ProxyHeader::Proxied {
            source: "[2001:db8::7]:51234".parse().unwrap(),
            destination: "[2001:db8::1]:443".parse().unwrap(),
        }
    );
}

#[tokio::test]
async fn v2_local_skips_its_addresses() {
    let header = read_with_payload(&v2(V2_CMD_LOCAL, 0x11, &v2_inet_block(TLVS)))
        .await
        .unwrap();
    assert_eq!(header, ProxyHeader::Local);
    let empty = read_with_payload(&v2(V2_CMD_LOCAL, 0x00, &[]))
        .await
        .unwrap();
    assert_eq!(empty, ProxyHeader::Local);
}

#[tokio::test]
async fn v2_unix_unspec_and_dgram_are_unknown() {
    let unix = read_with_payload(&v2(V2_CMD_PROXY, 0x31, &[0u8; 216]))
        .await
        .unwrap();
    assert_eq!(unix, ProxyHeader::Unknown);
    let unspec = read_with_payload(&v2(V2_CMD_PROXY, 0x00, &[]))
        .await
        .unwrap();
    assert_eq!(unspec, ProxyHeader::Unknown);
    let dgram = read_with_payload(&v2(V2_CMD_PROXY, 0x12, &v2_inet_block(&[])))
        .await
        .unwrap();
    assert_eq!(dgram, ProxyHeader::Unknown);
}

#[tokio::test]
async fn v2_with_short_addresses_or_bad_fields_is_malformed() {
    for header in [
        v2(V2_CMD_PROXY, 0x11, &[0u8; 11]),
        v2(V2_CMD_PROXY, 0x21, &[0u8; 35]),
        v2(0x2, 0x11, &v2_inet_block(&[])),
        v2(V2_CMD_PROXY, 0x41, &v2_inet_block(&[])),
        v2(V2_CMD_PROXY, 0x13, &v2_inet_block(&[])),
    ] {
        let err = read_with_payload(&header).await.unwrap_err();
        assert!(matches!(err, ProxyProtocolError::Malformed(_)), "{err:?}");
    }
    let mut version_1 = v2(V2_CMD_PROXY, 0x11, &v2_inet_block(&[]));
    version_1[12] = 0x11;
    let err = read_with_payload(&version_1).await.unwrap_err();
    assert!(matches!(err, ProxyProtocolError::Malformed(_)), "{err:?}");
}

#[tokio::test]
async fn v2_longer_than_the_cap_is_rejected_before_reading_it() {
    let mut header = V2_SIGNATURE.to_vec();
    header.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
    let err = read_with_payload(&header).await.unwrap_err();
    assert!(
        matches!(
            err,
            ProxyProtocolError::TooLong {
                len: 65535,
                max: V2_MAX_LEN
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_tls_client_hello_or_http_request_is_not_proxy_protocol() {
    for start in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x00\x00\x00",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    ] {
        let err = read_with_payload(start).await.unwrap_err();
        assert!(
            matches!(err, ProxyProtocolError::NotProxyProtocol),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn a_silent_peer_times_out() {
    let (_client, mut server) = pair().await;
    let timeout = Duration::from_millis(200);
    let err = read_header(&mut server, timeout).await.unwrap_err();
    assert!(
        matches!(err, ProxyProtocolError::Timeout(t) if t == timeout),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_peer_closing_mid_header_is_closed() {
    for partial in [
        &b"PROXY TCP4 192.0.2.7"[..],
        &b"PROXY"[..],
        &v2(V2_CMD_PROXY, 0x11, &v2_inet_block(&[]))[..20],
    ] {
        let (mut client, mut server) = pair().await;
        client.write_all(partial).await.unwrap();
        client.shutdown().await.unwrap();
        let err = read_header(&mut server, DEADLINE).await.unwrap_err();
        assert!(matches!(err, ProxyProtocolError::Closed), "{err:?}");
    }
}

/// The header arrives in two segments, split at `at`; the reader must wait for the
/// second (not fail, not spin on the first) and still leave the payload.
async fn read_split(header: &[u8], at: usize) -> ProxyHeader {
    let (mut client, mut server) = pair().await;
    let mut bytes = header.to_vec();
    bytes.extend_from_slice(PAYLOAD);
    let (first, second) = bytes.split_at(at);
    client.set_nodelay(true).unwrap();
    client.write_all(first).await.unwrap();
    let reader = tokio::spawn(async move {
        let header = read_header(&mut server, DEADLINE).await;
        (header, server)
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    client.write_all(second).await.unwrap();
    let (header, mut server) = reader.await.unwrap();
    let header = header.unwrap();
    assert_payload_follows(&mut server, &mut client).await;
    header
}

#[tokio::test]
async fn a_header_split_across_writes_is_reassembled() {
    let expected = ProxyHeader::Proxied {
        source: "192.0.2.7:51234".parse().unwrap(),
        destination: "10.0.0.1:443".parse().unwrap(),
    };
    let v1 = b"PROXY TCP4 192.0.2.7 10.0.0.1 51234 443\r\n";
    // Inside the prefix, inside the peeked part, and between CR and LF.
    for at in [5, 20, v1.len() - 1] {
        assert_eq!(read_split(v1, at).await, expected, "v1 split at {at}");
    }
    let v2 = v2(V2_CMD_PROXY, 0x11, &v2_inet_block(TLVS));
    for at in [6, 14, 20] {
        assert_eq!(read_split(&v2, at).await, expected, "v2 split at {at}");
    }
}

#[test]
fn client_addr_falls_back_to_the_peer() {
    let peer: SocketAddr = "10.1.1.1:40000".parse().unwrap();
    let source: SocketAddr = "192.0.2.7:51234".parse().unwrap();
    let proxied = ProxyHeader::Proxied {
        source,
        destination: "10.0.0.1:443".parse().unwrap(),
    };
    assert_eq!(proxied.client_addr(peer), source);
    assert_eq!(ProxyHeader::Local.client_addr(peer), peer);
    assert_eq!(ProxyHeader::Unknown.client_addr(peer), peer);
}

mod properties {
    //! The header parser on generated headers, read from memory through the same framing
    //! code as from a socket (`parse_bytes`).

    use proptest::prelude::*;

    use super::*;

    /// Two addresses of one family, as a load balancer writes them.
    fn address_pair() -> impl Strategy<Value = (SocketAddr, SocketAddr)> {
        prop_oneof![
            (
                any::<[u8; 4]>(),
                any::<[u8; 4]>(),
                any::<u16>(),
                any::<u16>()
            )
                .prop_map(|(s, d, sp, dp)| {
                    (
                        SocketAddr::new(Ipv4Addr::from(s).into(), sp),
                        SocketAddr::new(Ipv4Addr::from(d).into(), dp),
                    )
                }),
            (
                any::<[u8; 16]>(),
                any::<[u8; 16]>(),
                any::<u16>(),
                any::<u16>()
            )
                .prop_map(|(s, d, sp, dp)| {
                    (
                        SocketAddr::new(Ipv6Addr::from(s).into(), sp),
                        SocketAddr::new(Ipv6Addr::from(d).into(), dp),
                    )
                }),
        ]
    }

    fn v1_line(source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
        let family = if source.is_ipv4() { "TCP4" } else { "TCP6" };
        format!(
            "PROXY {family} {} {} {} {}\r\n",
            source.ip(),
            destination.ip(),
            source.port(),
            destination.port()
        )
        .into_bytes()
    }

    fn v2_header(source: SocketAddr, destination: SocketAddr, tlvs: &[u8]) -> Vec<u8> {
        let (family, mut block) = match (source.ip(), destination.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => (0x11, [s.octets(), d.octets()].concat()),
            (IpAddr::V6(s), IpAddr::V6(d)) => (0x21, [s.octets(), d.octets()].concat()),
            _ => unreachable!("one family"),
        };
        block.extend_from_slice(&source.port().to_be_bytes());
        block.extend_from_slice(&destination.port().to_be_bytes());
        block.extend_from_slice(tlvs);
        v2(V2_CMD_PROXY, family, &block)
    }

    proptest! {
        /// Any addresses, in a version 1 or 2 header followed by any bytes: the header
        /// gives them back, and exactly its own bytes are consumed.
        #[test]
        fn headers_give_back_their_addresses(
            (source, destination) in address_pair(),
            version_2 in any::<bool>(),
            tlvs in prop::collection::vec(any::<u8>(), 0..64),
            after in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let header = if version_2 {
                v2_header(source, destination, &tlvs)
            } else {
                v1_line(source, destination)
            };
            let mut input = header.clone();
            input.extend_from_slice(&after);
            let (parsed, consumed) = parse_bytes(&input).unwrap();
            prop_assert_eq!(parsed, ProxyHeader::Proxied { source, destination });
            prop_assert_eq!(consumed, header.len());
        }

        /// A header cut short is never accepted: the reader waits for the rest (here, the
        /// input ends: `Closed`) or refuses what it has.
        #[test]
        fn a_header_cut_short_is_not_accepted(
            (source, destination) in address_pair(),
            version_2 in any::<bool>(),
            cut in 0.0..1.0f64,
        ) {
            let header = if version_2 {
                v2_header(source, destination, &[])
            } else {
                v1_line(source, destination)
            };
            let cut = (cut * header.len() as f64) as usize;
            prop_assert!(parse_bytes(&header[..cut]).is_err());
        }

        /// Any bytes: a result, never a panic, and never more consumed than given.
        #[test]
        fn any_bytes_get_an_answer(input in prop::collection::vec(any::<u8>(), 0..256)) {
            if let Ok((_, consumed)) = parse_bytes(&input) {
                prop_assert!(consumed <= input.len());
            }
        }
    }
}

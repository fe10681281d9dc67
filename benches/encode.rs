//! Micro-benchmarks of the hot path: encoding an event once, and the hub fanning one
//! publish out to many subscribers' mailboxes (and them draining it).
//!
//! `cargo bench --bench encode`

use std::task::{Context, Waker};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures_util::FutureExt;
use ssegate::{
    hub::{Hub, HubConfig, TopicName},
    sse::{event::encode_event, EventFields},
};

fn encoding(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode_event");
    let fields = EventFields::new(Some("update".into()), None).expect("valid fields");
    for (name, data) in [
        ("small_64B", "x".repeat(64)),
        ("json_1KiB", format!("{{\"v\":\"{}\"}}", "y".repeat(1016))),
        ("multiline_1KiB", "line of text\n".repeat(79)),
    ] {
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &data, |b, data| {
            b.iter(|| encode_event("1795967194303492", &fields, data))
        });
    }
    group.finish();
}

fn fan_out(c: &mut Criterion) {
    let mut group = c.benchmark_group("hub_publish_fan_out");
    for subscribers in [1usize, 100, 1000] {
        let hub = Hub::new(HubConfig::default());
        let topic = TopicName::parse("bench").expect("topic");
        let mut subs: Vec<_> = (0..subscribers)
            .map(|_| {
                hub.subscribe(vec![topic.clone()], None)
                    .now_or_never()
                    .expect("the memory log answers at once")
                    .expect("subscribe")
            })
            .collect();
        let fields = EventFields::default();
        let data = "z".repeat(128);
        let mut cx = Context::from_waker(Waker::noop());
        let mut out = Vec::new();
        group.throughput(Throughput::Elements(subscribers as u64));
        group.bench_function(BenchmarkId::from_parameter(subscribers), |b| {
            b.iter(|| {
                // The embedded log answers at once: no runtime needed to complete it.
                hub.publish(&topic, None, &fields, &data)
                    .now_or_never()
                    .expect("the memory log answers at once")
                    .expect("publish");
                // Drain like the stream bodies do, so mailboxes never fill.
                for sub in &mut subs {
                    out.clear();
                    let _ = sub.poll_next(&mut cx, 64, &mut out);
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, encoding, fan_out);
criterion_main!(benches);

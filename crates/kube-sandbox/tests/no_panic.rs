//! Property tests: parsers and evaluators used by request handlers never panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use serde_json::{Value, json};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 200,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed_4b75),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn selectors_never_panic(s in ".{0,40}", obj in arb_json()) {
        if let Ok(sel) = kube_sandbox::testing::parse_label_selector(&s) {
            let _ = sel(&obj);
        }
        if let Ok(sel) = kube_sandbox::testing::parse_field_selector(&s) {
            let _ = sel(&obj);
        }
    }

    #[test]
    fn jsonpath_never_panics(p in "[.\\[\\]a-z0-9?()@=\"'*{}$ ]{0,30}", obj in arb_json()) {
        let _ = kube_sandbox::testing::jsonpath(&obj, &p);
    }

    #[test]
    fn schema_never_panics(obj in arb_json(), schema in arb_json()) {
        let mut o = obj.clone();
        let _ = kube_sandbox::testing::apply_schema(&mut o, &schema);
    }

    #[test]
    fn json_patch_never_panics(doc in arb_json(), patch in arb_json()) {
        let mut d = doc.clone();
        let _ = kube_sandbox::testing::apply_json_patch(&mut d, &patch);
    }

    #[test]
    fn fields_roundtrip(obj in arb_json()) {
        let f = kube_sandbox::testing::fields_of(&obj);
        prop_assert_eq!(kube_sandbox::testing::fields_roundtrip(&f), f);
    }
}

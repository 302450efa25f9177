//! The tantivy schema of a log partition and the record -> document mapping.
//!
//! Only `source` (the record's JSON) is stored; every other field exists to be searched, sorted or
//! aggregated. Keyword fields use the `raw` tokenizer (exact, case-sensitive values); `service`,
//! `level`, `timestamp` and `template` also have fast columns (sorting, aggregations); `message` is
//! full text with positions (phrases); `attributes` is a JSON field with raw values in the inverted
//! index; `template` is the message's [`message_template`], computed at ingest.
//!
//! ## Schema evolution
//! A partition keeps the schema it was created with. New fields are only ever appended, so the
//! field ids of an older partition's schema are those of the current one and a query compiled
//! against the current schema means the same thing there ([`check_prefix`] enforces it when a
//! partition is opened). Documents written into an older partition leave out the fields it lacks
//! (see [`Optional`]), and readers treat a missing column as missing values. A query on a field
//! itself (e.g. a future filter on `template`) must skip partitions lacking it: tantivy does not
//! expect a field id beyond a segment's schema.

use logflow_core::template::message_template;
use logflow_core::LogRecord;
use tantivy::schema::{
    DateOptions, DateTimePrecision, Field, IndexRecordOption, JsonObjectOptions, Schema, TextFieldIndexing,
    TextOptions, STORED,
};
use tantivy::{DateTime, TantivyDocument};

/// Tokenizer of the `message` field: split on non-alphanumerics, lowercase, cap token length.
pub const MESSAGE_TOKENIZER: &str = "default";

/// Names of the fast columns read by sorting and aggregations.
pub const TIMESTAMP: &str = "timestamp";
pub const SERVICE: &str = "service";
pub const LEVEL: &str = "level";
pub const TEMPLATE: &str = "template";

#[derive(Clone, Copy, Debug)]
pub struct Fields {
    pub id: Field,
    pub timestamp: Field,
    pub service: Field,
    pub level: Field,
    pub message: Field,
    pub host: Field,
    pub correlation_id: Field,
    pub request_id: Field,
    pub trace_id: Field,
    pub span_id: Field,
    pub attributes: Field,
    pub source: Field,
    /// Added after the first release: absent from partitions created before it.
    pub template: Field,
}

/// Fields that a partition created by an older schema may lack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Optional {
    pub template: bool,
}

impl Optional {
    /// Which of the later-added fields `schema` has.
    pub fn of(schema: &Schema) -> Optional {
        Optional { template: schema.get_field(TEMPLATE).is_ok() }
    }
}

pub fn build_schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    // Results are ordered by time, never by relevance, so no field keeps BM25 field norms.
    let raw = || {
        TextFieldIndexing::default()
            .set_tokenizer("raw")
            .set_index_option(IndexRecordOption::Basic)
            .set_fieldnorms(false)
    };
    let keyword = || TextOptions::default().set_indexing_options(raw());
    let keyword_fast = || keyword().set_fast(Some("raw"));
    let id = b.add_text_field("id", keyword());
    let timestamp = b.add_date_field(
        TIMESTAMP,
        DateOptions::default().set_indexed().set_fast().set_precision(DateTimePrecision::Microseconds),
    );
    let service = b.add_text_field(SERVICE, keyword_fast());
    let level = b.add_text_field(LEVEL, keyword_fast());
    let message = b.add_text_field(
        "message",
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(MESSAGE_TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions)
                .set_fieldnorms(false),
        ),
    );
    let host = b.add_text_field("host", keyword());
    let correlation_id = b.add_text_field("correlation_id", keyword());
    let request_id = b.add_text_field("request_id", keyword());
    let trace_id = b.add_text_field("trace_id", keyword());
    let span_id = b.add_text_field("span_id", keyword());
    // Inverted index only: exact values, numeric ranges and existence all work from the terms
    // (see query.rs), and a columnar copy of every attribute path would cost more than it buys.
    let attributes = b.add_json_field("attributes", JsonObjectOptions::default().set_indexing_options(raw()));
    let source = b.add_bytes_field("source", STORED);
    // Appended last: see "Schema evolution" above. Indexed too, so a query can select a template.
    let template = b.add_text_field(TEMPLATE, keyword_fast());
    let fields = Fields {
        id,
        timestamp,
        service,
        level,
        message,
        host,
        correlation_id,
        request_id,
        trace_id,
        span_id,
        attributes,
        source,
        template,
    };
    (b.build(), fields)
}

/// Checks that a partition's own schema `on_disk` is a prefix of `current`: the same fields with
/// the same ids and options, possibly followed by fields added since.
pub fn check_prefix(on_disk: &Schema, current: &Schema) -> Result<(), String> {
    for (field, entry) in on_disk.fields() {
        let same = field.field_id() < current.num_fields() as u32 && current.get_field_entry(field) == entry;
        if !same {
            return Err(format!(
                "field '{}' (#{}) differs from the current schema; the partition was written by an \
                 incompatible version",
                entry.name(),
                field.field_id()
            ));
        }
    }
    Ok(())
}

pub fn to_datetime(micros: i64) -> DateTime {
    DateTime::from_timestamp_micros(micros)
}

/// Build the tantivy document for a record. `source` is the record's JSON, serialised once by the
/// caller so the same bytes can be reused; `has` says which later-added fields the target
/// partition has.
pub fn to_document(f: &Fields, has: Optional, rec: &LogRecord, source: &[u8]) -> TantivyDocument {
    let mut doc = TantivyDocument::new();
    doc.add_text(f.id, &rec.id);
    doc.add_date(f.timestamp, to_datetime(rec.timestamp_micros()));
    doc.add_text(f.service, &rec.service);
    doc.add_text(f.level, rec.level.as_str());
    doc.add_text(f.message, &rec.message);
    let optional = [
        (f.host, &rec.host),
        (f.correlation_id, &rec.correlation_id),
        (f.request_id, &rec.request_id),
        (f.trace_id, &rec.trace_id),
        (f.span_id, &rec.span_id),
    ];
    for (field, value) in optional {
        if let Some(v) = value {
            doc.add_text(field, v);
        }
    }
    if !rec.attributes.is_empty() {
        let obj =
            rec.attributes.iter().map(|(k, v)| (k.clone(), tantivy::schema::OwnedValue::from(v.clone()))).collect();
        doc.add_object(f.attributes, obj);
    }
    doc.add_bytes(f.source, source);
    if has.template {
        doc.add_text(f.template, message_template(&rec.message));
    }
    doc
}

"""Schemathesis hooks for .ci/fuzz: test data that the spec is right about but JSON Schema cannot say.

Only requests generated as valid (positive mode) are touched, and only where a schema-valid value is
still meant to be refused by design, so `positive_data_acceptance` keeps judging everything else:

- `Idempotency-Key` must be new for a new request: the same key with another body is refused (422,
  `idempotency_key_reused`) as the IETF draft requires. Generated keys repeat across requests, so each
  valid request gets a fresh one.
- `If-Match` must name the resource's current `ETag`; any other tag is a lost update (412). Generated
  tags never are, so valid requests are sent unconditionally (a conditional request is tested in
  tests/api/conditional.rs).
- `cursor` (lists) and `after` (the change feed) must be values a previous page handed out; a made-up
  one is refused (422). Valid requests start from the first page.

Invalid (negative) requests are sent as generated, so malformed keys, tags and cursors are still
checked to be refused.
"""

import uuid

import schemathesis


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    if case.headers:
        for name in list(case.headers):
            if name.lower() == "idempotency-key":
                case.headers[name] = str(uuid.uuid4())
            elif name.lower() == "if-match":
                del case.headers[name]
    if case.query:
        for name in ("cursor", "after"):
            case.query.pop(name, None)

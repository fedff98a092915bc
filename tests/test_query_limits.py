"""The protective extensions: depth, aliases and size limits refuse abusive documents before they
run, and the validation cache is actually hit (it misses on every request if the rules differ)."""

from schema.root import build_customer_schema, build_staff_schema


async def test_deep_aliased_and_huge_documents_are_refused(demo):
    deep = "{ member(id: \"x\") { storedValueCards { member { storedValueCards { member { storedValueCards { member { storedValueCards { member { storedValueCards { member { name } } } } } } } } } } } }"
    body = await demo.gql.raw(deep, as_="owner")
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "QUERY_TOO_DEEP"
    aliases = "{ " + " ".join(f"a{i}: stores {{ id }}" for i in range(40)) + " }"
    body = await demo.gql.raw(aliases, as_="owner")
    assert body["data"] is None and "aliases" in body["errors"][0]["message"].lower()
    huge = "{ " + " ".join("stores { id name }" for _ in range(800)) + " }"
    body = await demo.gql.raw(huge, as_="owner")
    assert body["data"] is None and "token" in body["errors"][0]["message"].lower()


def test_validation_rules_are_shared_so_the_validation_cache_hits():
    for build in (build_staff_schema, build_customer_schema):
        schema = build()
        first = [e() if callable(e) else e for e in schema.extensions]
        second = [e() if callable(e) else e for e in schema.extensions]
        rules = lambda exts: [getattr(e, "validation_rules", None) for e in exts if getattr(e, "validation_rules", None)]  # noqa: E731
        assert rules(first) and rules(first) == rules(second)

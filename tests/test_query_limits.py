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


async def test_validation_rules_are_shared_so_the_validation_cache_hits(monkeypatch, settings):
    import schema.execution
    from schema.limits import QueryLimitsRule

    validated = []
    real = schema.execution.validate_document
    monkeypatch.setattr(schema.execution, "validate_document", lambda *args: validated.append(args[2]) or real(*args))

    class Context:  # what the extensions read of a request's context: the settings (introspection) and the language
        services = type("Services", (), {"settings": settings})
        lang = "zh"

    for build in (build_staff_schema, build_customer_schema):
        built = build()
        for _ in range(3):
            result = await built.execute("query Same { __typename }", context_value=Context())
            assert result.errors is None
        assert len(validated) == 1 and QueryLimitsRule in validated[0]
        validated.clear()

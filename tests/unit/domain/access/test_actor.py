from kingdom.domain.access import Actor, Permission, Policy, PolicyContext, compile_policies


def test_anonymous_actor_holds_nothing() -> None:
    actor = Actor.anonymous()
    assert actor.user_id is None
    assert actor.is_anonymous
    assert actor.context == PolicyContext.empty()


def test_actors_are_values() -> None:
    context = compile_policies([Policy.of("users", Permission.READ)])
    assert Actor("u1", context) == Actor("u1", compile_policies(context.policies()))
    assert not Actor("u1", context).is_anonymous
    assert len({Actor("u1", context), Actor("u1", context)}) == 1

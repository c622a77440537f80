"""Single sign-on through an OpenID Provider: the authorization code flow with PKCE and a nonce
(mozilla-django-oidc builds the request and keeps the states), the discovery document and the
provider's keys fetched through the guarded client, ID tokens validated in full here
(signature against the JWKS, issuer, audience, expiry, nonce), provider groups mapped onto
teams and the reviewers group at every sign-in, and RP-initiated logout. docs/sso.md."""

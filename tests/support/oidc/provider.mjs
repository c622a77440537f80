// A real, certified OpenID Provider (panva's oidc-provider) for the single sign-on tests, on
// loopback. Started by tests/support/oidc_provider.py with one argument: a JSON file naming
// the issuer, the port, the clients, the signing keys (a JWKS file read at start: a key
// rotation is a restart with another file) and the accounts (a JSON file read at every
// sign-in, so a test can change someone's groups between two sign-ins).
//
// Sign-in pages are oidc-provider's own development interactions: any login names the account
// (looked up in the accounts file), the password is not checked. Everything else — discovery,
// PKCE (required here for every client), nonce, the code and token endpoints, signed ID
// tokens, JWKS, userinfo, RP-initiated logout — is the library's certified behaviour.
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const jwks = JSON.parse(readFileSync(config.jwks_file, 'utf8'));

function accounts() {
  return JSON.parse(readFileSync(config.accounts_file, 'utf8'));
}

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks,
  cookies: { keys: [config.cookie_key] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username', 'given_name', 'family_name'],
    groups: ['groups'],
  },
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  ttl: config.ttl || {},
  async findAccount(ctx, id) {
    const account = accounts()[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, ...account };
      },
    };
  },
});
provider.proxy = false;

const server = provider.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`listening on ${config.port}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}

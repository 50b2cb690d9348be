// A real OpenID Connect provider for the SSO tests (npm oidc-provider with its development
// login screens: any login name is accepted, the password is ignored).
//   PORT          port to listen on (127.0.0.1)
//   REDIRECT_URI  the Suyuan callback registered for the client "suyuan"
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;

const configuration = {
  clients: [{
    client_id: 'suyuan',
    client_secret: 'suyuan-test-secret',
    redirect_uris: [process.env.REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name', 'groups'],
    email: ['email'],
  },
  // Put the scope's claims into the ID token, where the platform reads them.
  conformIdTokenClaims: false,
  // Logins named "chief…" are in the group sd-admins, others in sd-viewers.
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: `sub-${id}`,
          preferred_username: id,
          name: `SSO ${id}`,
          email: `${id}@example.gov.cn`,
          groups: id.startsWith('chief') ? ['sd-admins'] : ['sd-viewers'],
        };
      },
    };
  },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['suyuan-test-cookie-key'] },
  pkce: { required: () => true },
};

const provider = new Provider(issuer, configuration);
provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});

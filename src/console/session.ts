/**
 * What the console remembers, for this browser tab only (sessionStorage): the admin token, and the
 * tokens of deployments created or renewed in this tab. The server keeps tokens hashed, so a
 * deployment's token can be shown only by the tab that received it; closing the tab forgets them.
 */

const ADMIN_KEY = 'inferbox.adminToken';
const SERVICE_KEY = (name: string) => `inferbox.serviceToken.${name}`;

export const session = {
  adminToken: (): string | null => sessionStorage.getItem(ADMIN_KEY),
  signIn: (token: string) => sessionStorage.setItem(ADMIN_KEY, token),
  signOut: () => sessionStorage.clear(),
  serviceToken: (deployment: string): string | null => sessionStorage.getItem(SERVICE_KEY(deployment)),
  keepServiceToken: (deployment: string, token: string) => sessionStorage.setItem(SERVICE_KEY(deployment), token),
  forgetServiceToken: (deployment: string) => sessionStorage.removeItem(SERVICE_KEY(deployment)),
};

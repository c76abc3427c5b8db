/**
 * "Generate code": a deployment call as curl, Python `requests` and JavaScript `fetch` (Node 20 or
 * later, as an .mjs file), for a JSON body and for a file upload. Each runs exactly as shown from
 * the folder holding the file; the e2e test runs the curl one in a shell.
 */

export interface CodeRequest {
  readonly url: string;
  /** The deployment's token, or a placeholder when this tab does not know it. */
  readonly token: string;
  /** The JSON body, as text. */
  readonly json: string;
  /** The multipart field of the upload (an image input's name) and the file's name. */
  readonly field: string;
  readonly fileName: string;
}

export type Language = 'curl' | 'python' | 'javascript';
export type BodyKind = 'json' | 'file';

/** A string in single quotes for a POSIX shell: nothing inside is expanded. */
const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
/** A Python or JavaScript string literal (JSON's escapes are valid in both). */
const lit = (s: string) => JSON.stringify(s);

/** The JSON body on one line: a shell argument, or a Python/JS literal, without layout noise. */
function compact(json: string): string {
  try {
    return JSON.stringify(JSON.parse(json));
  } catch {
    return json;
  }
}

export function generateCode(language: Language, kind: BodyKind, r: CodeRequest): string {
  const auth = `Authorization: Bearer ${r.token}`;
  if (language === 'curl') {
    return kind === 'json'
      ? `curl -s -X POST ${sh(r.url)} \\\n  -H ${sh(auth)} \\\n  -H 'Content-Type: application/json' \\\n  -d ${sh(compact(r.json))}`
      : `curl -s -X POST ${sh(r.url)} \\\n  -H ${sh(auth)} \\\n  -F ${sh(`${r.field}=@${r.fileName}`)}`;
  }
  if (language === 'python') {
    const head = ['import requests', '', `url = ${lit(r.url)}`, `headers = {"Authorization": ${lit(`Bearer ${r.token}`)}}`];
    return kind === 'json'
      ? [...head, `body = ${compact(r.json).replace(/\btrue\b/g, 'True').replace(/\bfalse\b/g, 'False').replace(/\bnull\b/g, 'None')}`, '', 'response = requests.post(url, headers=headers, json=body)', 'print(response.status_code, response.json())'].join('\n')
      : [...head, '', `with open(${lit(r.fileName)}, "rb") as f:`, `    response = requests.post(url, headers=headers, files={${lit(r.field)}: f})`, 'print(response.status_code, response.json())'].join('\n');
  }
  const fetchCall = (body: string, headers: string) => [`const response = await fetch(${lit(r.url)}, {`, "  method: 'POST',", `  headers: ${headers},`, `  body: ${body},`, '});', 'console.log(response.status, await response.json());'];
  return kind === 'json'
    ? ['// Node 20+: save as call.mjs and run `node call.mjs` (or paste into a browser console on the same origin).', ...fetchCall(`JSON.stringify(${compact(r.json)})`, `{ Authorization: ${lit(`Bearer ${r.token}`)}, 'Content-Type': 'application/json' }`)].join('\n')
    : [
        '// Node 20+: save as call.mjs next to the file and run `node call.mjs`.',
        "import { readFile } from 'node:fs/promises';",
        '',
        'const form = new FormData();',
        `form.append(${lit(r.field)}, new Blob([await readFile(${lit(r.fileName)})]), ${lit(r.fileName)});`,
        ...fetchCall('form', `{ Authorization: ${lit(`Bearer ${r.token}`)} }`),
      ].join('\n');
}

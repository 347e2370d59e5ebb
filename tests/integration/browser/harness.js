// harness.js — the page test_browser.sh loads in headless Chromium from a second origin.
//
// The test writes the page (browser.py) with its configuration in <script id="cfg"
// type="application/json">: S3 URLs (presigned by boto3), the payload (base64) and the
// list of steps to run. Each step is one async function in STEPS, run in order; it returns
// one line (or several) describing what the browser saw, and a thrown error becomes
// "<STEP> error <name>: <message>". Lines go into <pre id="out">, then "DONE"; the test
// greps the DOM Chromium dumps. Adding a case = one function here + its line in the test.
"use strict";

const cfg = JSON.parse(document.getElementById("cfg").textContent);

function bytesOf(b64) {
  const s = atob(b64);
  const a = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) a[i] = s.charCodeAt(i);
  return a;
}

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const payload = bytesOf(cfg.payload_b64);
const png = bytesOf(cfg.png_b64);

const STEPS = {
  // A presigned PUT of a Blob with a Content-Type: the browser sends a preflight first (PUT is
  // not a simple method), then the PUT; the ETag is readable only if the rule exposes it.
  async put_presigned() {
    const r = await fetch(cfg.put_url, {
      method: "PUT",
      body: new Blob([payload], { type: cfg.content_type }),
      headers: { "Content-Type": cfg.content_type },
    });
    return `PUT ${r.status} etag=${r.headers.get("ETag")}`;
  },

  // The object back through a presigned GET, compared byte for byte.
  async get_presigned() {
    const r = await fetch(cfg.get_url);
    const got = new Uint8Array(await r.arrayBuffer());
    return `GET ${r.status} bytes=${got.length} same=${sameBytes(got, payload)} type=${r.headers.get("Content-Type")}`;
  },

  // A bucket without CORS rules: the preflight is refused, so the PUT is never sent.
  async put_no_cors() {
    try {
      const r = await fetch(cfg.nocors_put_url, {
        method: "PUT",
        body: new Blob([payload], { type: cfg.content_type }),
        headers: { "Content-Type": cfg.content_type },
      });
      return `NOCORS-PUT ${r.status}`;
    } catch (e) {
      return `NOCORS-PUT blocked ${e.name}`;
    }
  },

  // A simple GET needs no preflight: the server answers, but without Access-Control-Allow-Origin
  // the page may not read the answer.
  async get_no_cors() {
    try {
      const r = await fetch(cfg.nocors_get_url);
      return `NOCORS-GET ${r.status}`;
    } catch (e) {
      return `NOCORS-GET blocked ${e.name}`;
    }
  },

  // A POST-form upload (PostObject): boto3's generate_presigned_post fields, then the file
  // last, sent by fetch() as multipart/form-data (a simple request: no preflight); the
  // answer (201 <PostResponse>) is readable because the rule allows POST for the origin.
  async post_form() {
    const fd = new FormData();
    for (const [k, v] of Object.entries(cfg.post_fields)) fd.append(k, v);
    fd.append("file", new Blob([png], { type: "image/png" }), "pic.png");
    const r = await fetch(cfg.post_url, { method: "POST", body: fd });
    const doc = new DOMParser().parseFromString(await r.text(), "application/xml");
    const get = (n) => (doc.getElementsByTagName(n)[0] || {}).textContent;
    return `POST ${r.status} root=${doc.documentElement.nodeName} key=${get("Key")} etag=${get("ETag")}`;
  },

  // The same PNG by a presigned PUT whose x-amz-acl (public-read) is a signed header: the
  // page sends it, and the preflight asks for it.
  async put_public() {
    const r = await fetch(cfg.put_public_url, {
      method: "PUT",
      body: new Blob([png], { type: "image/png" }),
      headers: { "Content-Type": "image/png", "x-amz-acl": "public-read" },
    });
    return `PUT-PUBLIC ${r.status} etag=${r.headers.get("ETag")}`;
  },

  // Each uploaded file from its share link (public-read: the plain URL, no signature), read
  // by fetch() and compared byte for byte.
  async share_get() {
    const lines = [];
    for (const [how, url] of Object.entries(cfg.share_urls)) {
      const r = await fetch(url);
      const got = new Uint8Array(await r.arrayBuffer());
      lines.push(`SHARE-GET ${how} ${r.status} bytes=${got.length} same=${sameBytes(got, png)} type=${r.headers.get("Content-Type")}`);
    }
    return lines.join("\n");
  },

  // The same links shown in <img> elements: decoded by the browser, so their size is known.
  async share_img() {
    const lines = [];
    for (const [how, url] of Object.entries(cfg.share_urls)) {
      const img = document.createElement("img");
      const loaded = new Promise((ok) => {
        img.onload = () => ok("load");
        img.onerror = () => ok("error");
      });
      img.src = url;
      document.body.appendChild(img);
      const res = await loaded;
      lines.push(`SHARE-IMG ${how} ${res} ${img.naturalWidth}x${img.naturalHeight}`);
    }
    return lines.join("\n");
  },

  // A private object's plain URL: 403 (the error, CORS headers included, is readable).
  async private_get() {
    const r = await fetch(cfg.private_url);
    const doc = new DOMParser().parseFromString(await r.text(), "application/xml");
    return `PRIVATE-GET ${r.status} code=${(doc.getElementsByTagName("Code")[0] || {}).textContent}`;
  },
};

async function main() {
  const out = document.getElementById("out");
  const say = (line) => { out.textContent += line + "\n"; };
  for (const name of cfg.steps) {
    try {
      say(await STEPS[name]());
    } catch (e) {
      say(`${name} error ${e.name}: ${e.message}`);
    }
  }
  say("DONE");
}

main();

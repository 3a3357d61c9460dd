// cairn's web UI script: progressive enhancement only (every page works without it).
// - [data-job-events=ID]: live progress of a job by Server-Sent Events.
// - form[data-confirm]: ask before a destructive action.
"use strict";

function formatBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

function formatSeconds(s) {
  if (s == null) return "";
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${sec}s` : `${sec}s`;
}

function watchJob(element) {
  const id = element.dataset.jobEvents;
  const bar = element.querySelector("progress");
  const text = element.querySelector(".progress-text");
  const state = document.querySelector(`[data-job-state="${id}"]`);
  const source = new EventSource(`/api/v1/jobs/${id}/events`);
  source.addEventListener("progress", (event) => {
    const p = JSON.parse(event.data).progress || {};
    const percent = Math.round((p.percent_done || 0) * 100);
    if (bar) { bar.value = percent; bar.textContent = percent + "%"; }
    if (text) {
      const parts = [`${percent}%`];
      if (p.bytes_total != null) parts.push(`${formatBytes(p.bytes_done)} of ${formatBytes(p.bytes_total)}`);
      else if (p.bytes_done) parts.push(formatBytes(p.bytes_done));
      if (p.rate_bytes_per_second) parts.push(formatBytes(p.rate_bytes_per_second) + "/s");
      if (p.eta_seconds != null) parts.push("ETA " + formatSeconds(p.eta_seconds));
      text.textContent = parts.join(" · ");
    }
  });
  source.addEventListener("job", (event) => {
    const job = JSON.parse(event.data).job;
    if (state) { state.textContent = job.state; state.className = "badge " + job.state; }
    if (job.state !== "queued" && job.state !== "running") {
      if (job.state === "succeeded" && bar) { bar.value = 100; bar.textContent = "100%"; }
      if (text && job.state === "succeeded") text.textContent = "100% · done";
      source.close();
    }
  });
  source.onerror = () => { if (source.readyState === EventSource.CLOSED) source.close(); };
}

document.querySelectorAll("[data-job-events]").forEach(watchJob);
document.querySelectorAll("form[data-confirm]").forEach((form) => {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
});

// Config forms: [data-api-edit] (a plan: PUT {set, remove}), [data-api-put] (an offsite: PUT
// its fields). Errors come back as {"errors":[{"field","message"}]} and are shown at the field.
function csrfOf(form) {
  const input = form.querySelector("input[name=csrf]");
  return input ? input.value : "";
}

function typedValue(input) {
  const text = input.value.trim();
  switch (input.dataset.kind) {
    case "strings": return text.split("\n").map((l) => l.trim()).filter((l) => l !== "");
    case "integer": return Number.parseInt(text, 10);
    case "boolean": return text === "true";
    default: return text;
  }
}

function clearErrors(form) {
  form.querySelectorAll(".field-error").forEach((e) => { e.hidden = true; e.textContent = ""; });
  form.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
  const top = form.querySelector("#form-error");
  if (top) { top.hidden = true; top.textContent = ""; }
}

function showErrors(form, answer) {
  const errors = answer.errors || [{ field: null, message: answer.error || "the change was refused" }];
  let first = null;
  for (const error of errors) {
    const id = error.field ? error.field.replace(/\./g, "-") : null;
    const slot = id && form.querySelector(`#error-${id}`);
    const input = id && form.querySelector(`#field-${id}`);
    if (slot) {
      slot.textContent = error.message; slot.hidden = false;
      if (input) { input.setAttribute("aria-invalid", "true"); first = first || input; }
    } else {
      const top = form.querySelector("#form-error");
      if (top) { top.textContent = (top.textContent ? top.textContent + " " : "") + error.message; top.hidden = false; first = first || top; }
    }
  }
  if (first) first.focus();
}

// What changed: fields with a value are set, emptied fields that had one are removed.
function planChanges(form) {
  const set = {}, remove = [];
  form.querySelectorAll("[data-field]").forEach((input) => {
    const text = input.value.trim();
    if (text === "") { if (input.dataset.initial) remove.push(input.dataset.field); return; }
    if (text !== (input.dataset.initial || "").trim()) set[input.dataset.field] = typedValue(input);
  });
  return { set, remove };
}

// An offsite is replaced whole: every field with a value; tables by their dotted names.
function offsiteBody(form) {
  const body = {};
  form.querySelectorAll("[data-field]").forEach((input) => {
    if (input.value.trim() !== "") body[input.dataset.field] = typedValue(input);
  });
  form.querySelectorAll("[data-secret]").forEach((input) => {
    if (input.value !== "") body[input.dataset.secret] = input.value;
  });
  return body;
}

async function send(form, method, url, body) {
  const response = await fetch(url, {
    method, credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfOf(form) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let answer = {};
  try { answer = await response.json(); } catch (_) { /* an empty answer */ }
  return { ok: response.ok, status: response.status, answer };
}

function reloadWith(message) {
  const url = new URL(window.location.href);
  url.search = "?ok=" + encodeURIComponent(message);
  window.location.assign(url.toString());
}

document.querySelectorAll("form[data-api-edit]").forEach((form) => {
  form.addEventListener("submit", async (event) => {
    event.preventDefault(); clearErrors(form);
    const result = await send(form, "PUT", form.dataset.apiEdit, planChanges(form));
    if (result.ok) reloadWith("saved; the daemon runs with the new settings"); else showErrors(form, result.answer);
  });
  const check = form.querySelector("[data-action=validate]");
  if (check) check.addEventListener("click", async () => {
    clearErrors(form);
    const result = await send(form, "POST", form.dataset.validate, planChanges(form));
    if (result.ok) { const top = form.querySelector("#form-error"); top.textContent = "valid: nothing was saved yet"; top.className = "flash ok"; top.hidden = false; }
    else showErrors(form, result.answer);
  });
});

document.querySelectorAll("form[data-api-put]").forEach((form) => {
  form.addEventListener("submit", async (event) => {
    event.preventDefault(); clearErrors(form);
    const result = await send(form, "PUT", form.dataset.apiPut, offsiteBody(form));
    if (result.ok) reloadWith("offsite settings saved"); else showErrors(form, result.answer);
  });
  const test = form.querySelector("[data-action=test]");
  if (test) test.addEventListener("click", async () => {
    clearErrors(form);
    const body = offsiteBody(form);
    const list = document.getElementById("test-steps");
    list.innerHTML = "<li class=\"muted\">Testing…</li>";
    const probe = { destination: body.destination || "" };
    if (body.access_key_id) probe.access_key_id = body.access_key_id;
    if (body.secret_access_key) probe.secret_access_key = body.secret_access_key;
    const result = await send(form, "POST", form.dataset.test, probe);
    list.innerHTML = "";
    const steps = (result.answer && result.answer.steps) || [];
    if (!result.ok && steps.length === 0) { showErrors(form, result.answer); return; }
    for (const step of steps) {
      const item = document.createElement("li");
      item.dataset.step = step.step; item.dataset.ok = step.ok;
      const badge = document.createElement("span");
      badge.className = "badge " + (step.ok ? "ok" : "failed"); badge.textContent = step.ok ? "ok" : "failed";
      item.append(badge, " ", step.step + ": " + step.detail);
      if (step.fix) { const fix = document.createElement("div"); fix.className = "hint"; fix.textContent = "fix: " + step.fix; item.append(fix); }
      list.append(item);
    }
  });
});

document.querySelectorAll("form[data-api-post]").forEach((form) => {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (form.dataset.replaceConfirm && !window.confirm(form.dataset.replaceConfirm)) return;
    const body = {};
    form.querySelectorAll("input[name], select[name], textarea[name]").forEach((input) => {
      if (input.name !== "csrf" && input.value !== "") body[input.name] = input.value;
    });
    const result = await send(form, "POST", form.dataset.apiPost, body);
    if (result.ok && result.answer && result.answer.id) window.location.assign(`/jobs/${result.answer.id}`);
    else window.alert((result.answer && result.answer.error) || "refused");
  });
});

document.querySelectorAll("[data-orphans]").forEach((button) => {
  button.addEventListener("click", async () => {
    const list = document.getElementById("orphans");
    list.innerHTML = "<li class=\"muted\">Looking…</li>";
    const response = await fetch(button.dataset.orphans, { credentials: "same-origin" });
    const answer = await response.json().catch(() => ({}));
    list.innerHTML = "";
    const found = Array.isArray(answer) ? answer : (answer.orphans || []);
    if (!response.ok) { list.textContent = answer.error || "failed"; return; }
    if (found.length === 0) { list.textContent = "No orphans: every repository under the bucket is known here."; return; }
    const form = document.querySelector("form[data-api-post]");
    for (const orphan of found) {
      const item = document.createElement("li");
      item.dataset.status = orphan.status;
      item.textContent = `${orphan.location} (${orphan.status}, ${orphan.snapshots} snapshots) `;
      if (orphan.status === "orphan" && form) {
        const restore = document.createElement("button");
        restore.type = "button"; restore.className = "secondary"; restore.textContent = "Restore as a copy";
        restore.addEventListener("click", async () => {
          const target = window.prompt("Target directory (relative to the restore directory)", orphan.prefix.split("/").pop());
          if (!target) return;
          const result = await send(form, "POST", "/api/v1/offsite/orphans/restore",
            { repository: button.dataset.repository, source: orphan.location, target });
          if (result.ok && result.answer.id) window.location.assign(`/jobs/${result.answer.id}`);
          else window.alert((result.answer && result.answer.error) || "refused");
        });
        item.append(restore);
      }
      list.append(item);
    }
  });
});

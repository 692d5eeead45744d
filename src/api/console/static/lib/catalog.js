// Lists the forms offer as suggestions (parties, profiles, message types), fetched once per
// page load: they change only when the gateway's configuration does.

import { api } from "./api.js";
import { h } from "./dom.js";

/** The standard's message types (schemas/standard/), offered in the type filters. */
export const MESSAGE_TYPES = [
  "worker.registered",
  "worker.updated",
  "worker.withdrawn",
  "vacancy.published",
  "vacancy.closed",
  "match.proposed",
  "match.outcome",
  "employment.started",
  "employment.changed",
  "employment.ended",
  "permit.verification.requested",
  "permit.status",
  "subsidy.granted",
  "subsidy.revoked",
  "care.monitoring.recorded",
  "receipt",
];

// A message's status, from its deliveries (src/store/states.rs): some still on their way
// (accepted), every one acknowledged (delivered), or some given up as dead letters (failed).
export const MESSAGE_STATUSES = ["accepted", "delivered", "failed"];

let parties = null;
let profiles = null;

// Shared promises are fetched without the caller's abort signal: a view left early must not
// cancel what the next view is waiting for.

/** The parties and routes (GET /console/api/parties), cached. */
export function partiesAndRoutes() {
  parties ??= api("parties").catch((error) => {
    parties = null;
    throw error;
  });
  return parties;
}

/** The profiles a message can be validated against, cached. */
export function profileList() {
  profiles ??= api("profiles").catch((error) => {
    profiles = null;
    throw error;
  });
  return profiles;
}

/**
 * A <datalist> of the party ids the operator may see (the session's list, or every
 * configured party), filled when the list arrives. Suggestions only: a failure leaves it empty.
 */
export function partyDatalist(id, session) {
  const list = h("datalist", { id });
  const fill = (ids) => list.replaceChildren(...ids.map((party) => h("option", { value: party })));
  if (Array.isArray(session?.parties)) fill(session.parties);
  else
    partiesAndRoutes()
      .then((data) => fill((data.parties || []).map((party) => party.id)))
      .catch(() => {});
  return list;
}

// The client picker: a superuser picks any client (GET /api/clients, read once per page
// load); a client user linked to several clients picks among its own.

import { api } from "../api.js";
import { h } from "../dom.js";

let clientsPromise = null;

/** [{client_id, name}] the user may pick from. */
export async function pickableClients(user) {
  if (!user.is_superuser) return user.client_ids.map((id) => ({ client_id: id, name: null }));
  clientsPromise = clientsPromise || api("/api/clients").then((body) => body.clients);
  try {
    return await clientsPromise;
  } catch (e) {
    clientsPromise = null;
    throw e;
  }
}

export function clientLabel(client) {
  return client.name ? `${client.name} (client ${client.client_id})` : `Client ${client.client_id}`;
}

/** A <select> of clients; onPick(clientId). */
export function clientPicker(clients, selected, onPick) {
  const select = h(
    "select",
    { id: "client", name: "client" },
    h("option", { value: "", disabled: true, selected: !selected }, "Pick a client…"),
    clients.map((c) =>
      h("option", { value: c.client_id, selected: String(c.client_id) === String(selected) }, clientLabel(c)),
    ),
  );
  select.addEventListener("change", () => onPick(select.value));
  return h("div", { class: "field client-field" }, h("label", { for: "client" }, "Client"), select);
}

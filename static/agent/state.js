/* The state the modules share, in one object: a module that changes it writes `state.x = ...`, and every
 * other module sees the change (an imported `let` could not be assigned from outside its module). */

export var state = {
  me: null, // {name, displayName, role}
  sites: {},
  teams: [], // [{id, name}]: the teams a chat can be transferred to
  chats: new Map(), // id -> chat record (see makeChat in chats.js)
  selectedId: null,
  requests: new Map(), // request id -> {chat, kind, clientId?}
  helloCount: 0,
  socketOpen: false,
  readMarks: {}, // chat id -> the last seq the agent has seen (chats.js keeps it across reloads)
  ui: {}, // the chat pane's nodes; pane.js builds them anew for each chat shown
};

/* What a click in the lists, the pane or the transcript does. Those modules call these; main.js fills them
 * in with actions.js's functions at start. The actions re-render those same modules, so importing them
 * directly would make a cycle. */

export var handlers = {
  select: null, // (chatId)
  accept: null, // (chat)
  endChat: null, // (chat)
  sendReply: null, // ()
  sendFile: null, // (chat, file)
  retry: null, // (chat, clientId)
  discard: null, // (chat, clientId)
  openCanned: null, // (): the canned responses dialog
  showShortcuts: null, // (): the keyboard shortcuts dialog
};

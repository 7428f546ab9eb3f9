/* The console's timings and limits, together so that tuning one never means hunting through modules. */

export var PING_EVERY = 25000; // keepalive
export var PONG_WITHIN = 10000; // no answer to a ping: the connection is dead, reconnect
export var BACKOFF_FIRST = 1000;
export var BACKOFF_MAX = 30000;
export var TYPING_REPEAT = 3000; // send typing:true at most this often
export var TYPING_IDLE = 4000; // typing:false after this long without a keystroke
export var VISITOR_TYPING_TTL = 10000; // hide "is typing" without an update for this long
export var CLOCK_EVERY = 5000; // waiting times
export var FLASH_FOR = 4000; // highlight of a new waiting chat
export var LONG_WAIT = 3 * 60000; // a waiting time shown as urgent
export var PRELOAD_QUEUE = 50; // transcripts loaded up front for the oldest waiting chats
export var MAX_TEXT = 4000;
export var MAX_ENDED_SHOWN = 30;
export var MAX_MESSAGES_SHOWN = 100; // offline messages kept in the Messages list
export var LOGIN_URL = "/agent/login?next=/agent";
export var FILE_URL = "/agent/attachments/"; // uploads go to FILE_URL + chat; downloads are below it
export var THUMBNAIL_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];

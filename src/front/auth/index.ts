export { requireAdmin } from './admin.js';
export { readBearer, rejectToken } from './bearer.js';
export { hashToken, mintToken, verifyToken } from './tokens.js';

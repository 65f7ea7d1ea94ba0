import type { CoreDeps } from '../core-deps.ts';
import { normalizeEmail } from '../customers/email.ts';
import { AppError } from '../errors.ts';
import { isUUID } from '../ids.ts';
import { onLicenseEnded } from '../integrations/side-effects.ts';
import type { Product } from '../model.ts';
import type { Repositories } from '../ports.ts';
import {
  type Activation,
  type ActivationKind,
  checkLicense,
  isLocalSite,
  type License,
  type LicenseCheck,
  licenseExpiry,
  normalizeSiteURL,
} from './license.ts';
import { generateLicenseKey, hashLicenseKey, keyHint } from './license-key.ts';

/** What a client sends: the key, the product, and where it runs; nothing else about the user. */
export interface LicenseRequest {
  key: string;
  /** Product slug, id, or numeric item id. */
  product: string;
  siteUrl?: string | undefined;
  fingerprint?: string | undefined;
  name?: string | undefined;
  version?: string | undefined;
  /** WordPress `wp_get_environment_type()`: staging/development/local activations are free. */
  environment?: string | undefined;
}

export interface LicenseStateView {
  status: License['status'];
  expires_at: string | null;
  expired: boolean;
  product: string;
  item_id: number | null;
  activation_limit: number;
  active_count: number;
  /** null = unlimited. */
  activations_left: number | null;
  key_hint: string;
}

export interface ActivationView {
  kind: ActivationKind;
  identifier: string;
  name: string | null;
  is_local: boolean;
  activated_at: string;
  last_seen_at: string;
}

export interface LicenseResult extends LicenseCheck {
  license: LicenseStateView | null;
  activation: ActivationView | null;
}

export interface IssuedLicense {
  id: string;
  key: string;
  product: string;
  status: License['status'];
  expires_at: string | null;
  activation_limit: number;
}

export interface LicenseView extends IssuedLicense {
  order_id: string | null;
  customer_id: string;
  created_at: string;
  activations: ActivationView[];
  events: { type: string; at: string; detail: Record<string, unknown> }[];
}

export interface LicenseService {
  validate(input: LicenseRequest): Promise<LicenseResult>;
  activate(input: LicenseRequest): Promise<LicenseResult>;
  deactivate(input: LicenseRequest): Promise<LicenseResult>;
  get(licenseId: string): Promise<LicenseView>;
  suspend(licenseId: string): Promise<LicenseView>;
  reinstate(licenseId: string): Promise<LicenseView>;
  revoke(licenseId: string): Promise<LicenseView>;
  /** Extends the same key by `days` from its current expiry (or from now, if it has passed). */
  renew(input: { licenseId: string; days: number }): Promise<LicenseView>;
  list(filter: {
    product?: string;
    email?: string;
    status?: string;
    limit?: number;
  }): Promise<LicenseSummary[]>;
  /** Frees one site or machine of a license (the seller acting for a buyer who lost a machine). */
  deactivateScope(input: { license: string; siteUrl?: string; fingerprint?: string }): Promise<LicenseView>;
  /** Moves the license (same key, same activations) to another customer, created if new. */
  transfer(input: { licenseId: string; email: string; name?: string | undefined }): Promise<LicenseView>;
}

export interface LicenseSummary {
  id: string;
  key_hint: string;
  product: string;
  customer_id: string;
  status: License['status'];
  expires_at: string | null;
  activation_limit: number;
  created_at: string;
}

export function toActivationView(a: Activation): ActivationView {
  return {
    kind: a.kind,
    identifier: a.identifier,
    name: a.name,
    is_local: a.isLocal,
    activated_at: a.createdAt,
    last_seen_at: a.lastSeenAt,
  };
}

/** Finds a product by item id (digits), id or slug. */
export async function findProductRef(repos: Repositories, ref: string): Promise<Product | undefined> {
  const trimmed = ref.trim();
  if (!trimmed) return undefined;
  // Digits name an item id first; a slug made only of digits still resolves when no item id matches.
  const byItem = /^\d{1,10}$/.test(trimmed) ? await repos.products.findByItemId(Number(trimmed)) : undefined;
  return byItem ?? repos.products.findBySlugOrId(trimmed);
}

/** Issues one license for a purchased licensed product, inside the order's transaction. */
export async function issueLicense(
  deps: CoreDeps,
  repos: Repositories,
  input: {
    product: Product;
    customerId: string;
    orderId: string | null;
    now: Date;
    key?: string;
    /** Overrides the policy's activation limit (a multi-unit purchase with quantity `multiply`). */
    activationLimit?: number;
  },
): Promise<IssuedLicense> {
  const policy = input.product.licensePolicy;
  if (!policy)
    throw new AppError('INVALID_REQUEST', { message: `Product "${input.product.slug}" is not licensed.` });
  const key = input.key ?? generateLicenseKey(deps.keyFormat);
  const license: License = {
    id: deps.newId(),
    productId: input.product.id,
    customerId: input.customerId,
    orderId: input.orderId,
    status: 'active',
    expiresAt: licenseExpiry(policy, input.now),
    activationLimit: input.activationLimit ?? policy.activationLimit,
    expiryStops: policy.expiryStops,
    keyHint: keyHint(key),
    createdAt: input.now.toISOString(),
  };
  await repos.licenses.insert(
    license,
    hashLicenseKey(deps.licenseLookupKey, key),
    deps.secrets.seal(key, license.id),
  );
  await repos.licenses.addEvent({
    id: deps.newId(),
    licenseId: license.id,
    type: 'license.created',
    detail: { order_id: input.orderId },
    at: license.createdAt,
  });
  return {
    id: license.id,
    key,
    product: input.product.slug,
    status: license.status,
    expires_at: license.expiresAt,
    activation_limit: license.activationLimit,
  };
}

/** A license as the buyer sees it: the full key, opened from its sealed copy. */
export async function toIssuedLicense(
  deps: CoreDeps,
  repos: Repositories,
  license: License,
): Promise<IssuedLicense> {
  const [product, sealed] = await Promise.all([
    repos.products.findById(license.productId),
    repos.licenses.keyCiphertext(license.id),
  ]);
  return {
    id: license.id,
    key: sealed ? deps.secrets.open(sealed, license.id) : '',
    product: product?.slug ?? '',
    status: license.status,
    expires_at: license.expiresAt,
    activation_limit: license.activationLimit,
  };
}

export function createLicenseService(deps: CoreDeps): LicenseService {
  const { uow } = deps;

  interface Resolved {
    license: License | undefined;
    product: Product | undefined;
    scope: { kind: ActivationKind; identifier: string; isLocal: boolean } | null;
  }

  async function resolve(repos: Repositories, input: LicenseRequest): Promise<Resolved> {
    if (input.siteUrl && input.fingerprint) {
      throw new AppError('INVALID_REQUEST', { message: 'Send site_url or fingerprint, not both.' });
    }
    let scope: Resolved['scope'] = null;
    const [license, product] = await Promise.all([
      repos.licenses.findByKeyHash(hashLicenseKey(deps.licenseLookupKey, input.key)),
      findProductRef(repos, input.product),
    ]);
    if (input.siteUrl !== undefined) {
      const site = normalizeSiteURL(input.siteUrl);
      if (!site)
        throw new AppError('INVALID_REQUEST', {
          message: 'site_url is not a usable URL.',
          detail: { path: 'site_url' },
        });
      const patterns = product?.licensePolicy?.localPatterns ?? [];
      scope = { kind: 'site', identifier: site, isLocal: isLocalSite(site, patterns, input.environment) };
    } else if (input.fingerprint !== undefined) {
      const fingerprint = input.fingerprint.trim();
      if (!fingerprint)
        throw new AppError('INVALID_REQUEST', {
          message: 'fingerprint is empty.',
          detail: { path: 'fingerprint' },
        });
      scope = { kind: 'machine', identifier: fingerprint, isLocal: false };
    }
    return { license, product, scope };
  }

  async function state(
    repos: Repositories,
    license: License,
    product: Product | undefined,
  ): Promise<LicenseStateView> {
    const active = await repos.licenses.activeActivations(license.id);
    const counted = active.filter((a) => !a.isLocal).length;
    const licensed =
      product?.id === license.productId ? product : await repos.products.findById(license.productId);
    return {
      status: license.status,
      expires_at: license.expiresAt,
      expired: license.expiresAt !== null && Date.parse(license.expiresAt) <= deps.clock.now().getTime(),
      product: licensed?.slug ?? '',
      item_id: licensed?.itemId ?? null,
      activation_limit: license.activationLimit,
      active_count: counted,
      activations_left: license.activationLimit === 0 ? null : Math.max(0, license.activationLimit - counted),
      key_hint: license.keyHint,
    };
  }

  async function answer(
    repos: Repositories,
    resolved: Resolved,
    check: LicenseCheck,
    activation: Activation | null | undefined,
  ): Promise<LicenseResult> {
    const { license, product } = resolved;
    // Nothing about a license is revealed unless the key and the product both match.
    const visible = license && check.code !== 'NOT_FOUND' && check.code !== 'PRODUCT_MISMATCH';
    return {
      ...check,
      license: visible ? await state(repos, license, product) : null,
      activation: activation ? toActivationView(activation) : null,
    };
  }

  async function event(
    repos: Repositories,
    licenseId: string,
    type: string,
    detail: Record<string, unknown>,
  ): Promise<void> {
    await repos.licenses.addEvent({
      id: deps.newId(),
      licenseId,
      type,
      detail,
      at: deps.clock.now().toISOString(),
    });
  }

  /** A license named by its id or by its key (the seller may have either at hand). */
  async function load(repos: Repositories, ref: string): Promise<License> {
    const license = isUUID(ref.trim())
      ? await repos.licenses.findById(ref.trim())
      : await repos.licenses.findByKeyHash(hashLicenseKey(deps.licenseLookupKey, ref));
    if (!license) throw new AppError('NOT_FOUND', { message: 'No such license.' });
    return license;
  }

  async function view(repos: Repositories, license: License): Promise<LicenseView> {
    const [issued, activations, events] = await Promise.all([
      toIssuedLicense(deps, repos, license),
      repos.licenses.activeActivations(license.id),
      repos.licenses.events(license.id),
    ]);
    return {
      ...issued,
      order_id: license.orderId,
      customer_id: license.customerId,
      created_at: license.createdAt,
      activations: activations.map(toActivationView),
      events: events.map((e) => ({ type: e.type, at: e.at, detail: e.detail })),
    };
  }

  async function change(
    licenseId: string,
    plan: (license: License, now: Date) => Partial<Pick<License, 'status' | 'expiresAt'>>,
    type: string,
  ): Promise<LicenseView> {
    return uow.transaction(async (repos) => {
      const license = await load(repos, licenseId);
      const changes = plan(license, deps.clock.now());
      await repos.licenses.update(license.id, changes);
      await event(repos, license.id, type, { ...changes });
      const ended = changes.status === 'revoked' || changes.status === 'suspended' ? changes.status : null;
      if (ended && license.status !== ended) {
        await onLicenseEnded(deps, repos, {
          licenseId: license.id,
          customerId: license.customerId,
          orderId: license.orderId,
          status: ended,
        });
      }
      return view(repos, { ...license, ...changes });
    });
  }

  return {
    async validate(input) {
      const repos = uow.repos;
      const resolved = await resolve(repos, input);
      const { license, scope } = resolved;
      const activation =
        license && scope
          ? await repos.licenses.findActiveActivation(license.id, scope.kind, scope.identifier)
          : null;
      const check = checkLicense({
        license,
        productMatches: resolved.product?.id === license?.productId,
        now: deps.clock.now(),
        activation,
        requireActivation: scope !== null,
      });
      if (activation && check.valid) {
        await repos.licenses.touchActivation(
          activation.id,
          deps.clock.now().toISOString(),
          input.version ?? null,
        );
      }
      return answer(repos, resolved, check, activation);
    },

    async activate(input) {
      return uow.transaction(async (repos) => {
        const resolved = await resolve(repos, input);
        const { license, scope } = resolved;
        if (!scope)
          throw new AppError('INVALID_REQUEST', { message: 'Send site_url or fingerprint to activate.' });
        if (license) await repos.licenses.lock(license.id);
        const now = deps.clock.now();
        const check = checkLicense({
          license,
          productMatches: resolved.product?.id === license?.productId,
          now,
          requireActivation: false,
        });
        // Activation is refused for any expired license, even one whose expiry only stops updates.
        if (!license || !check.valid) return answer(repos, resolved, check, null);
        if (check.code === 'EXPIRED') return answer(repos, resolved, { ...check, valid: false }, null);
        const existing = await repos.licenses.findActiveActivation(license.id, scope.kind, scope.identifier);
        if (existing) {
          await repos.licenses.touchActivation(existing.id, now.toISOString(), input.version ?? null);
          return answer(repos, resolved, check, existing);
        }
        const active = await repos.licenses.activeActivations(license.id);
        const counted = active.filter((a) => !a.isLocal).length;
        if (!scope.isLocal && license.activationLimit > 0 && counted >= license.activationLimit) {
          const refusal: LicenseCheck = {
            valid: false,
            code: 'NO_ACTIVATIONS_LEFT',
            detail: `All ${license.activationLimit} activations are in use; deactivate one first.`,
          };
          return answer(repos, resolved, refusal, null);
        }
        const activation: Activation = {
          id: deps.newId(),
          licenseId: license.id,
          kind: scope.kind,
          identifier: scope.identifier,
          name: input.name?.slice(0, 200) ?? null,
          isLocal: scope.isLocal,
          version: input.version?.slice(0, 50) ?? null,
          createdAt: now.toISOString(),
          lastSeenAt: now.toISOString(),
        };
        await repos.licenses.activate(activation);
        await event(repos, license.id, 'license.activated', {
          kind: scope.kind,
          identifier: scope.identifier,
          local: scope.isLocal,
        });
        return answer(repos, resolved, check, activation);
      });
    },

    async deactivate(input) {
      return uow.transaction(async (repos) => {
        const resolved = await resolve(repos, input);
        const { license, scope } = resolved;
        if (!scope)
          throw new AppError('INVALID_REQUEST', { message: 'Send site_url or fingerprint to deactivate.' });
        if (license) await repos.licenses.lock(license.id);
        const check = checkLicense({
          license,
          productMatches: resolved.product?.id === license?.productId,
          now: deps.clock.now(),
          requireActivation: false,
        });
        if (!license || (!check.valid && check.code !== 'EXPIRED'))
          return answer(repos, resolved, check, null);
        const existing = await repos.licenses.findActiveActivation(license.id, scope.kind, scope.identifier);
        if (!existing) {
          const refusal: LicenseCheck = {
            valid: false,
            code: 'NOT_ACTIVATED',
            detail: 'Nothing to deactivate here.',
          };
          return answer(repos, resolved, refusal, null);
        }
        await repos.licenses.deactivate(existing.id, deps.clock.now().toISOString());
        await event(repos, license.id, 'license.deactivated', {
          kind: scope.kind,
          identifier: scope.identifier,
        });
        const done: LicenseCheck = { valid: check.valid, code: 'DEACTIVATED', detail: 'Deactivated.' };
        return answer(repos, resolved, done, null);
      });
    },

    get: (licenseId) => load(uow.repos, licenseId).then((license) => view(uow.repos, license)),
    async list({ product, email, status, limit }) {
      const repos = uow.repos;
      const productRow = product ? await findProductRef(repos, product) : undefined;
      if (product && !productRow) throw new AppError('NOT_FOUND', { message: `No product "${product}".` });
      let customerId: string | undefined;
      if (email) {
        const existing = await repos.customers.findByEmail(normalizeEmail(email));
        if (!existing) return [];
        customerId = existing.id;
      }
      const rows = await repos.licenses.list({
        ...(productRow ? { productId: productRow.id } : {}),
        ...(customerId ? { customerId } : {}),
        ...(status ? { status } : {}),
        limit: Math.min(Math.max(limit ?? 100, 1), 1000),
      });
      const slugs = new Map<string, string>();
      for (const row of rows) {
        if (!slugs.has(row.productId))
          slugs.set(row.productId, (await repos.products.findById(row.productId))?.slug ?? '');
      }
      return rows.map((l) => ({
        id: l.id,
        key_hint: l.keyHint,
        product: slugs.get(l.productId) ?? '',
        customer_id: l.customerId,
        status: l.status,
        expires_at: l.expiresAt,
        activation_limit: l.activationLimit,
        created_at: l.createdAt,
      }));
    },
    deactivateScope({ license: ref, siteUrl, fingerprint }) {
      return uow.transaction(async (repos) => {
        const license = await load(repos, ref);
        const site = siteUrl === undefined ? null : normalizeSiteURL(siteUrl);
        if ((site === null) === (fingerprint === undefined || !fingerprint.trim())) {
          throw new AppError('INVALID_REQUEST', { message: 'Give one usable --site or --fingerprint.' });
        }
        const kind = site ? 'site' : 'machine';
        const identifier = site ?? fingerprint!.trim();
        const existing = await repos.licenses.findActiveActivation(license.id, kind, identifier);
        if (!existing)
          throw new AppError('NOT_FOUND', { message: `No active ${kind} ${identifier} on this license.` });
        await repos.licenses.deactivate(existing.id, deps.clock.now().toISOString());
        await event(repos, license.id, 'license.deactivated', { kind, identifier, by: 'seller' });
        return view(repos, license);
      });
    },
    suspend: (id) => change(id, () => ({ status: 'suspended' }), 'license.suspended'),
    reinstate: (id) => change(id, () => ({ status: 'active' }), 'license.reinstated'),
    revoke: (id) => change(id, () => ({ status: 'revoked' }), 'license.revoked'),
    transfer({ licenseId, email, name }) {
      const normalized = normalizeEmail(email);
      return uow.transaction(async (repos) => {
        const license = await load(repos, licenseId);
        const now = deps.clock.now().toISOString();
        const customer = await repos.customers.upsertByEmail({
          id: deps.newId(),
          email: normalized,
          name: name?.trim() || null,
          createdAt: now,
        });
        await repos.licenses.update(license.id, { customerId: customer.id });
        await event(repos, license.id, 'license.transferred', { from: license.customerId, to: customer.id });
        return view(repos, { ...license, customerId: customer.id });
      });
    },
    renew({ licenseId, days }) {
      if (!Number.isInteger(days) || days < 1 || days > 36_500) {
        throw new AppError('INVALID_REQUEST', { message: 'days must be a whole number from 1 to 36500.' });
      }
      return change(
        licenseId,
        (license, now) => {
          if (license.expiresAt === null) return {};
          const from = Math.max(now.getTime(), Date.parse(license.expiresAt));
          return { expiresAt: new Date(from + days * 86_400_000).toISOString() };
        },
        'license.renewed',
      );
    },
  };
}

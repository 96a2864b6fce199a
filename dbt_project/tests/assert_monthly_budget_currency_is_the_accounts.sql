{#
    A monthly budget (seed account_monthly_budgets) must be in the account's
    own currency: account_pacing subtracts the account's spend, which is in
    that currency, from it. Returns every budget row whose currency differs
    from a currency the account spends in (fct_campaign_daily). Accounts
    without daily data are not checked.
#}

select
    budgets.platform,
    budgets.account_id,
    budgets.month,
    budgets.currency            as budget_currency,
    account_currencies.currency as account_currency

from {{ ref('account_monthly_budgets') }} as budgets
inner join (
    select distinct platform, account_id, currency
    from {{ ref('fct_campaign_daily') }}
) as account_currencies
    on  account_currencies.platform = budgets.platform
    and account_currencies.account_id = budgets.account_id
where account_currencies.currency <> budgets.currency

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    # allauth's own app is also called "Accounts" in the admin: this one holds the users.
    verbose_name = "Users and API tokens"

    def ready(self) -> None:
        from accounts import signals  # noqa: F401 - connects the receivers

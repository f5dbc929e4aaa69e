@identity
Feature: Identities and authorization
  Every caller holds a certificate issued by the master's certificate
  authority: a person, a computer (its node agent) or a software instance.
  Each may read and change only what is its own; anything else is refused,
  and a refused call changes nothing.

  Background:
    Given a person "alice"
    And a person "bob"
    And a software release "hello"
    And a computer "COMP-1" of "alice" with 2 partitions
    And a computer "COMP-2" of "bob" with 2 partitions
    And "alice" supplies "hello" on "COMP-1"
    And "alice" requests "web" of "hello" with:
      | sla computer_guid | COMP-1 |
    And the nodes converge within 10 minutes

  Scenario: A person reads its own instance
    When "alice" reads "web"
    Then it succeeds
    And "web" is allocated on "COMP-1"

  Scenario: A person cannot even see that another person's instance exists
    When "bob" reads "web"
    Then it fails as not found

  @real-stack-only @tls
  Scenario: A certificate the master did not issue is refused
    When an impostor of "alice" requests "evil" of "hello"
    Then it fails as refused mentioning "certificate"
    And "alice" has 1 instance

  Scenario: Only the admin adds persons
    When "alice" adds a person "mallory"
    Then it fails as refused
    When the admin adds a person "carol"
    Then it succeeds

  Scenario: A computer reads its own view and not another's
    When computer "COMP-1" reads the view of "COMP-1"
    Then it succeeds
    When computer "COMP-2" reads the view of "COMP-1"
    Then it fails as refused
    When "bob" reads the view of "COMP-1"
    Then it fails as refused

  Scenario: A computer cannot report the partitions of another computer
    When computer "COMP-2" reports partition "slappart0" of "COMP-1" as "stopped"
    Then it fails as refused
    And "web" is reported started

  Scenario: An instance requests inside its own tree only
    Given "bob" supplies "hello" on "COMP-2"
    And "bob" requests "other" of "hello" with:
      | sla computer_guid | COMP-2 |
    When instance "web" requests "db" of "hello"
    Then it succeeds
    And "db" belongs to the tree of "web"
    When instance "web" reads "other"
    Then it fails as refused
    When instance "web" bangs "other"
    Then it fails as refused
    When instance "other" reads "db"
    Then it fails as refused

  Scenario: A computer does not request instances
    When computer "COMP-1" requests "sneaky" of "hello"
    Then it fails as refused
    And "alice" has 1 instance
